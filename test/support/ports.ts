// A free TCP port on loopback, for a server a test starts itself (an embedded PostgreSQL, a fake).
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts a server on a free port, again on another one if the port was taken meanwhile: the port
 * is free when asked for, but test files run side by side and another may take it before the
 * server binds it.
 */
export async function startOnFreePort<T>(start: (port: number) => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= tries || !/address already in use/i.test((err as Error).message)) throw err;
    }
  }
}
