// pino, JSON to stdout (or a given stream), with secrets redacted wherever they might appear.
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

/** A connection string with its password removed, for messages that name the database. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1)) || '(default)'} as ${decodeURIComponent(u.username) || '(default user)'}`;
  } catch {
    return '(unparseable connection string)';
  }
}
