// `provet-sync installations ...`: the registry of installations that fleet workers mirror.
//   add NAME --base-url URL (--client-id ID --client-secret-file PATH | --api-token-file PATH) [...]
//   list [--json] | remove NAME [--drop-schema] | pause NAME | resume NAME | apply FILE [--dry-run]
// Input is checked before anything is written, every problem listed at once (exit 2, nothing
// changed). Secrets are referenced (a file's path, an environment variable's name), never stored.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { withTransaction, quoteIdent } from '../db/connect.js';
import { refreshGroupViews } from '../db/control/group-views.js';
import { dropIdentityFreeViews } from '../db/identity-free-views.js';
import {
  columnOf,
  deleteInstallation,
  insertInstallation,
  listInstallations,
  lockRegistry,
  setPaused,
  updateInstallation,
  type Installation,
  type InstallationKey,
} from '../db/control/registry.js';
import type pg from 'pg';
import { textTable } from '../text-table.js';
import { checkInstallations, type InstallationInput } from './installation-spec.js';

export const INSTALLATIONS_USAGE = `Usage: provet-sync installations <action> [options]

  add NAME --base-url URL (--client-id ID --client-secret-file PATH | --api-token-file PATH) [options]
           [--schema S] [--schedule CRON] [--reconcile-schedule CRON|off] [--lookback-seconds N]
           [--token-url URL] [--client-secret-env VAR | --api-token-env VAR]
           [--webhook-secret-file PATH | --webhook-secret-env VAR] [--paused]
  list [--json]                 the registry (credentials shown as where they are read from)
  remove NAME [--drop-schema]   the mirror's schema stays unless --drop-schema
  pause NAME | resume NAME      a paused installation gets no runs and no requests
  apply FILE [--dry-run]        make the registry what FILE (YAML or JSON) lists: adds, changes, removes

Secrets are never stored: the registry keeps the path of a file holding the secret, or the name of
an environment variable, and each worker reads it when it runs the installation.`;

/** Bad input: every problem, for exit code 2. */
export class InstallationsInputError extends Error {
  readonly code = 'INSTALLATIONS_INPUT_INVALID';
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]!
        : `${problems.length} problems, nothing changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

export interface InstallationsContext {
  pool: pg.Pool;
  controlSchema: string;
  /** PROVET_GROUP_SCHEMA: reserved, and rebuilt after removals. */
  groupSchema: string;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** Flags of `add`, as the file's fields are named. */
const ADD_FLAGS = {
  'base-url': 'baseUrl',
  'client-id': 'clientId',
  'client-secret-file': 'clientSecretFile',
  'client-secret-env': 'clientSecretEnv',
  'api-token-file': 'apiTokenFile',
  'api-token-env': 'apiTokenEnv',
  'token-url': 'tokenUrl',
  schema: 'schema',
  schedule: 'schedule',
  'reconcile-schedule': 'reconcileSchedule',
  'lookback-seconds': 'lookbackSeconds',
  'webhook-secret-file': 'webhookSecretFile',
  'webhook-secret-env': 'webhookSecretEnv',
} as const satisfies Record<string, keyof InstallationInput>;

type Action = 'add' | 'list' | 'remove' | 'pause' | 'resume' | 'apply';
const ARGUMENTS: Record<Action, { positional: string | null; flags: string[] }> = {
  add: { positional: 'NAME', flags: [...Object.keys(ADD_FLAGS), 'paused'] },
  list: { positional: null, flags: ['json'] },
  remove: { positional: 'NAME', flags: ['drop-schema'] },
  pause: { positional: 'NAME', flags: [] },
  resume: { positional: 'NAME', flags: [] },
  apply: { positional: 'FILE', flags: ['dry-run'] },
};

export interface ParsedInstallationsArgs {
  action: Action;
  argument: string | undefined;
  values: Record<string, string | boolean | undefined>;
}

/** Checks the words and flags (no database needed); throws InstallationsInputError. */
export function parseInstallationsArgs(args: string[]): ParsedInstallationsArgs {
  const [action, ...rest] = args;
  if (!action || !(action in ARGUMENTS))
    throw new InstallationsInputError([
      action ? `unknown action '${action}'\n\n${INSTALLATIONS_USAGE}` : INSTALLATIONS_USAGE,
    ]);
  const expected = ARGUMENTS[action as Action];
  const booleans = new Set(['paused', 'json', 'drop-schema', 'dry-run']);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(expected.flags.map((f) => [f, { type: booleans.has(f) ? 'boolean' : 'string' }])),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new InstallationsInputError([`installations ${action}: ${(err as Error).message}`]);
  }
  const wanted = expected.positional ? 1 : 0;
  if (parsed.positionals.length !== wanted)
    throw new InstallationsInputError([
      wanted
        ? `installations ${action} takes one ${expected.positional}`
        : `installations ${action} takes no argument, got '${parsed.positionals[0]}'`,
    ]);
  return { action: action as Action, argument: parsed.positionals[0], values: parsed.values };
}

export async function runInstallationsCommand(
  parsed: ParsedInstallationsArgs,
  ctx: InstallationsContext,
): Promise<void> {
  const { action, argument: arg, values } = parsed;
  switch (action) {
    case 'add':
      return add(ctx, arg!, values);
    case 'list':
      return list(ctx, values.json === true);
    case 'remove':
      return remove(ctx, arg!, values['drop-schema'] === true);
    case 'pause':
    case 'resume': {
      const found = await setPaused(ctx.pool, ctx.controlSchema, arg!, action === 'pause');
      if (!found) throw new InstallationsInputError([`no installation named ${arg}`]);
      ctx.out.write(`${action === 'pause' ? 'paused' : 'resumed'} ${arg}\n`);
      return;
    }
    case 'apply':
      return apply(ctx, arg!, values['dry-run'] === true);
  }
}

async function add(ctx: InstallationsContext, name: string, values: ParsedInstallationsArgs['values']) {
  const input: Record<string, unknown> = { name };
  for (const [flag, field] of Object.entries(ADD_FLAGS)) if (values[flag] !== undefined) input[field] = values[flag];
  if (values.paused === true) input.paused = true;
  await withTransaction(ctx.pool, async (client) => {
    await lockRegistry(client, ctx.controlSchema);
    const existing = await listInstallations(client, ctx.controlSchema);
    const checked = await checkInstallations([{ label: 'add', input }], existing, ctx.controlSchema, ctx.groupSchema);
    if (existing.some((i) => i.name === name))
      checked.problems.unshift(`add (${name}): an installation named ${name} exists (change it with apply)`);
    report(ctx, checked.warnings);
    if (checked.problems.length > 0) throw new InstallationsInputError(checked.problems);
    const row = checked.rows[0]!;
    await insertInstallation(client, ctx.controlSchema, row);
    ctx.out.write(`added ${row.name} (mirror schema ${row.mirrorSchema}, schedule ${row.schedule})\n`);
  });
}

/** What `list --json` shows of an installation: everything the registry holds (it holds no secret). */
function publicView(i: Installation) {
  return {
    name: i.name,
    baseUrl: i.baseUrl,
    auth: i.authMethod,
    clientId: i.clientId,
    tokenUrl: i.tokenUrl,
    secretFrom: i.secretFile !== null ? { file: i.secretFile } : { env: i.secretEnv },
    schema: i.mirrorSchema,
    schedule: i.schedule,
    reconcileSchedule: i.reconcileSchedule,
    lookbackSeconds: i.lookbackSeconds,
    webhookSecretFrom:
      i.webhookSecretFile !== null
        ? { file: i.webhookSecretFile }
        : i.webhookSecretEnv !== null
          ? { env: i.webhookSecretEnv }
          : null,
    paused: i.paused,
  };
}

async function list(ctx: InstallationsContext, json: boolean) {
  const rows = await listInstallations(ctx.pool, ctx.controlSchema);
  if (json) {
    ctx.out.write(`${JSON.stringify(rows.map(publicView), null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    ctx.out.write('no installations registered (add one: provet-sync installations add NAME --base-url URL ...)\n');
    return;
  }
  ctx.out.write(
    `${textTable([
      ['NAME', 'SCHEMA', 'SCHEDULE', 'RECONCILE', 'PAUSED', 'AUTH', 'SECRET FROM', 'BASE URL'],
      ...rows.map((i) => [
        i.name,
        i.mirrorSchema,
        i.schedule,
        i.reconcileSchedule ?? 'off',
        i.paused ? 'yes' : 'no',
        i.authMethod === 'oauth' ? `oauth ${i.clientId}` : 'token',
        i.secretFile !== null ? `file ${i.secretFile}` : `env ${i.secretEnv}`,
        i.baseUrl,
      ]),
    ])}\n`,
  );
}

async function remove(ctx: InstallationsContext, name: string, dropSchema: boolean) {
  await withTransaction(ctx.pool, async (client) => {
    await lockRegistry(client, ctx.controlSchema);
    const removed = await deleteInstallation(client, ctx.controlSchema, name);
    if (!removed) throw new InstallationsInputError([`no installation named ${name}`]);
    // The views across installations let go of its schema first, so dropping it cascades to
    // nothing but its own tables.
    await refreshGroupViews(client, ctx.controlSchema, ctx.groupSchema);
    if (dropSchema) {
      // Its identity-free views (grant-reader --no-identities) go with it, schema and all.
      await dropIdentityFreeViews(client, removed.mirrorSchema);
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(removed.mirrorSchema)} CASCADE`);
    }
    ctx.out.write(
      `removed ${name}; ${dropSchema ? `schema ${removed.mirrorSchema} dropped` : `its mirror stays in schema ${removed.mirrorSchema} (--drop-schema drops it)`}\n`,
    );
  });
}

/** The entries of an apply file: a list, or an object whose `installations` is one. */
async function readApplyFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InstallationsInputError([`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new InstallationsInputError([`${path}: not YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const entries = Array.isArray(document) ? document : (document as { installations?: unknown } | null)?.installations;
  if (!Array.isArray(entries))
    throw new InstallationsInputError([
      `${path}: expected a list of installations, or an object with an installations: list`,
    ]);
  return entries as unknown[];
}

const COMPARED: readonly InstallationKey[] = [
  'baseUrl',
  'authMethod',
  'clientId',
  'tokenUrl',
  'secretFile',
  'secretEnv',
  'mirrorSchema',
  'schedule',
  'reconcileSchedule',
  'lookbackSeconds',
  'webhookSecretFile',
  'webhookSecretEnv',
  'paused',
];

async function apply(ctx: InstallationsContext, path: string, dryRun: boolean) {
  const entries = await readApplyFile(path);
  await withTransaction(ctx.pool, async (client) => {
    await lockRegistry(client, ctx.controlSchema);
    const existing = await listInstallations(client, ctx.controlSchema);
    // The file is the whole registry: its schemas are checked against each other only.
    const checked = await checkInstallations(
      entries.map((input, i) => ({ label: `${path}: installations[${i}]`, input })),
      [],
      ctx.controlSchema,
      ctx.groupSchema,
    );
    report(ctx, checked.warnings);
    if (checked.problems.length > 0) throw new InstallationsInputError(checked.problems);
    const wanted = new Map(checked.rows.map((r) => [r.name, r]));
    // pause and resume are an operator's: an entry that does not say `paused` keeps the flag.
    const saysPaused = new Set(
      entries.flatMap((e) =>
        (e as { paused?: unknown; name?: unknown }).paused === undefined ? [] : [(e as { name: string }).name],
      ),
    );
    const lines: string[] = [];
    // Removals first: an installation of the file may take over the schema of one it replaces.
    for (const gone of existing.filter((e) => !wanted.has(e.name))) {
      lines.push(`removed ${gone.name} (its mirror stays in schema ${gone.mirrorSchema})`);
      if (!dryRun) await deleteInstallation(client, ctx.controlSchema, gone.name);
    }
    for (const row of checked.rows) {
      const before = existing.find((e) => e.name === row.name);
      if (!before) {
        lines.push(`added ${row.name} (mirror schema ${row.mirrorSchema})`);
        if (!dryRun) await insertInstallation(client, ctx.controlSchema, row);
        continue;
      }
      if (!saysPaused.has(row.name)) row.paused = before.paused;
      const changed = COMPARED.filter((k) => before[k] !== row[k]);
      if (changed.length === 0) {
        lines.push(`unchanged ${row.name}`);
        continue;
      }
      lines.push(`changed ${row.name}: ${changed.map(columnOf).join(', ')}`);
      if (!dryRun) await updateInstallation(client, ctx.controlSchema, row);
    }
    if (dryRun) lines.push('dry run: nothing changed');
    else await refreshGroupViews(client, ctx.controlSchema, ctx.groupSchema);
    ctx.out.write(`${lines.join('\n')}\n`);
  });
}

function report(ctx: InstallationsContext, warnings: readonly string[]) {
  for (const w of warnings) ctx.err.write(`provet-sync: warning: ${w}\n`);
}
