// `provet-sync simulate`: serves a seeded simulator until SIGINT/SIGTERM and tells the user
// how to point provet-sync at it.
import { parseArgs } from 'node:util';
import { DEFAULT_WINDOW_MS, startSimulator, type SimulatorOptions } from './index.js';
import { parseQuirks } from './quirks.js';
import { parseUtcOffset } from './time.js';

export const SIMULATE_USAGE = `Usage: provet-sync simulate [options]

Serves a simulated Provet Cloud API on a loopback port until stopped (Ctrl-C or SIGTERM).

Options:
  --clients N              seeded clients, about 1.5 patients each      (default 1000)
  --seed S                 data seed; the same seed gives the same data (default 1)
  --host H                 address to listen on                         (default 127.0.0.1)
  --port P                 port; 0 picks a free one                     (default 8000)
  --provet-id ID           installation id in the URL path              (default 1234)
  --client-id X            OAuth client id                              (default provet-sync-demo)
  --client-secret Y        OAuth client secret, a demo credential       (default demo-secret)
  --legacy-token T         also accept "Authorization: Token T"         (default off)
  --token-lifetime S       access token lifetime in seconds             (default 36000)
  --utc-offset +HH:MM      the installation's offset in timestamps      (default +02:00)
  --no-rate-limit          turn Provet's documented rate limits off     (default on)
  --rate-window-ms MS      rate-limit window; smaller compresses time   (default 60000)
  --ignore-param NAME      drop this query parameter unread on the record lists, as an
                           installation that does not know it would (repeatable; e.g.
                           id__gt, ordering, client__in, modified__gt)
  --default-ordering O     order of a list that asks for none: id, -id, modified, -modified,
                           created, -created                            (default id)
  --help                   show this text
`;

export interface SimulateIo {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Called with 2 on bad arguments (default: process.exit). */
  exit?: (code: number) => void;
  /** Stops serving when aborted, as SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

class ArgumentError extends Error {}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new ArgumentError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

function parseOptions(argv: string[]): SimulatorOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      clients: { type: 'string' },
      seed: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'provet-id': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'legacy-token': { type: 'string' },
      'token-lifetime': { type: 'string' },
      'utc-offset': { type: 'string' },
      'no-rate-limit': { type: 'boolean' },
      'rate-window-ms': { type: 'string' },
      'ignore-param': { type: 'string', multiple: true },
      'default-ordering': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const offset = values['utc-offset'];
  if (offset !== undefined && parseUtcOffset(offset) === null) {
    throw new ArgumentError(`--utc-offset must look like +02:00, -04:00 or Z, got "${offset}"`);
  }
  const provetId = values['provet-id'];
  if (provetId !== undefined && !/^[A-Za-z0-9_-]+$/.test(provetId)) {
    throw new ArgumentError(`--provet-id must be letters, digits, _ or -, got "${provetId}"`);
  }
  for (const name of ['client-id', 'client-secret', 'legacy-token', 'host'] as const) {
    if (values[name] === '') throw new ArgumentError(`--${name} must not be empty`);
  }
  const windowMs = integer('rate-window-ms', values['rate-window-ms'], 1, 3_600_000);
  if (values['no-rate-limit'] && windowMs !== undefined)
    throw new ArgumentError('--rate-window-ms makes no sense with --no-rate-limit');
  const quirks = {
    ignoredParameters: values['ignore-param'] ?? [],
    defaultOrdering: values['default-ordering'] ?? 'id',
  };
  try {
    parseQuirks(quirks);
  } catch (error) {
    throw new ArgumentError(`--ignore-param / --default-ordering: ${(error as Error).message}`);
  }
  return {
    quirks,
    clients: integer('clients', values.clients, 0, 5_000_000) ?? 1000,
    seed: integer('seed', values.seed, -2_147_483_648, 2_147_483_647) ?? 1,
    host: values.host ?? '127.0.0.1',
    port: integer('port', values.port, 0, 65535) ?? 8000,
    provetId: provetId ?? '1234',
    clientId: values['client-id'] ?? 'provet-sync-demo',
    clientSecret: values['client-secret'] ?? 'demo-secret',
    legacyToken: values['legacy-token'] ?? null,
    tokenLifetimeSeconds: integer('token-lifetime', values['token-lifetime'], 1, 10 * 365 * 86400) ?? 36000,
    utcOffset: offset ?? '+02:00',
    rateLimit: values['no-rate-limit'] ? false : { windowMs: windowMs ?? DEFAULT_WINDOW_MS },
  };
}

export async function runSimulateCommand(argv: string[], io: SimulateIo = {}): Promise<void> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const exit = io.exit ?? ((code: number) => process.exit(code));
  let options: SimulatorOptions | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    // parseArgs throws TypeErrors with a code for unknown options and missing values.
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`provet-sync simulate: ${message}\n\n${SIMULATE_USAGE}`);
    exit(2);
    return;
  }
  if (options === 'help') {
    stdout.write(SIMULATE_USAGE);
    return;
  }

  const started = performance.now();
  const sim = await startSimulator(options);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const limits = options.rateLimit
    ? `Provet's documented limits per ${options.rateLimit.windowMs ?? DEFAULT_WINDOW_MS} ms window`
    : 'off';
  const windowSeconds = options.rateLimit ? (options.rateLimit.windowMs ?? DEFAULT_WINDOW_MS) / 1000 : null;
  stdout.write(
    [
      `Provet Cloud simulator: ${options.clients} clients (seed ${options.seed}), started in ${seconds} s`,
      `  API base URL:   ${sim.baseUrl}`,
      `  Token URL:      ${sim.tokenUrl}`,
      `  Client id:      ${sim.clientId}`,
      `  Client secret:  ${sim.clientSecret}   (a demo credential, not a secret)`,
      ...(sim.legacyToken ? [`  Legacy token:   ${sim.legacyToken}   (Authorization: Token ...)`] : []),
      `  Timestamps:     UTC offset ${options.utcOffset}`,
      `  Rate limits:    ${limits}`,
      ...(options.quirks?.ignoredParameters?.length
        ? [`  Ignores:        ${options.quirks.ignoredParameters.join(', ')} (dropped unread)`]
        : []),
      ...(options.quirks?.defaultOrdering && options.quirks.defaultOrdering !== 'id'
        ? [`  Default order:  ${options.quirks.defaultOrdering}`]
        : []),
      `  Admin routes:   ${sim.adminUrl}`,
      '',
      'Point provet-sync at it:',
      `  export PROVET_BASE_URL=${sim.baseUrl}`,
      `  export PROVET_CLIENT_ID=${sim.clientId}`,
      `  export PROVET_CLIENT_SECRET=${sim.clientSecret}`,
      ...(windowSeconds !== null && windowSeconds !== 60
        ? [`  export PROVET_RATE_WINDOW_SECONDS=${windowSeconds}`]
        : []),
      '',
      'Serving until Ctrl-C or SIGTERM.',
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await sim.close();
  stdout.write('Simulator stopped.\n');
}
