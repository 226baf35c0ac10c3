// pino, with secrets redacted wherever they might appear: JSON lines, or readable lines for a
// person at a terminal (pino-pretty), on stdout or stderr as the command chooses.
import { isatty } from 'node:tty';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'connectionString',
  '*.connectionString',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'provet-sync' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  // Written synchronously: a line logged just before the CLI exits is on stdout, not in a buffer.
  // provet-sync logs a few lines a run (progress at most every few seconds), so this costs nothing.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}

export type LogFormat = 'json' | 'pretty';

/**
 * A command's logger, writing to file descriptor `fd` (1 stdout, 2 stderr). `format` undefined:
 * readable lines when that stream is a terminal, else JSON lines (a container's log collector, a
 * pipe). Redaction happens in pino, before either format sees a line.
 */
export async function createCommandLogger(
  level: string,
  { fd, format }: { fd: number; format: LogFormat | undefined },
): Promise<Logger> {
  if ((format ?? (isatty(fd) ? 'pretty' : 'json')) === 'json')
    return createLogger(level, pino.destination({ dest: fd, sync: true }));
  // Loaded only for readable lines: a container's JSON never needs it.
  const { default: pretty } = await import('pino-pretty');
  // As a stream in this thread (not a pino transport's worker), writing synchronously like the JSON.
  const stream = pretty({
    destination: fd,
    sync: true,
    colorize: isatty(fd) && pretty.isColorSupported,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
  });
  return createLogger(level, stream);
}

/** A connection string with its password removed, for messages that name the database. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1)) || '(default)'} as ${decodeURIComponent(u.username) || '(default user)'}`;
  } catch {
    return '(unparseable connection string)';
  }
}
