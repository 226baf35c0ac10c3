// An installation as a person writes it (the flags of `installations add`, an entry of the file
// `installations apply` reads), checked and made into the registry's row. Every problem is listed
// at once, each with the installation and the field it is about, and a secret is never read into a
// message: only whether its file can be read.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { cron, httpUrl, integer, matching } from '../config-parsers.js';
import { schema as settingsSchema } from '../config-schema.js';
import { DEFAULT_GROUP_SCHEMA } from '../db/control/group-views.js';
import type { Installation } from '../db/control/registry.js';

const NAME = /^[a-z][a-z0-9-]{0,39}$/;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const text = z.string().trim().min(1, 'must not be empty');
const envName = matching(ENV_NAME, 'an environment variable name (letters, digits, _)');
const cronText = cron();

/** What a person may write for one installation; unknown keys are refused (a typo is not ignored). */
const installationInput = z.strictObject({
  name: matching(NAME, 'a slug: lower-case letters, digits and -, starting with a letter, at most 40 characters'),
  baseUrl: httpUrl('the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/').transform((u) =>
    u.endsWith('/') ? u : `${u}/`,
  ),
  clientId: text.optional(),
  clientSecretFile: text.optional(),
  clientSecretEnv: envName.optional(),
  apiTokenFile: text.optional(),
  apiTokenEnv: envName.optional(),
  tokenUrl: httpUrl('the OAuth2 token endpoint').optional(),
  schema: matching(
    IDENTIFIER,
    'a lower-case SQL identifier (letters a-z, digits, _), at most 63 characters',
  ).optional(),
  schedule: cronText.optional(),
  reconcileSchedule: cron(true).optional(),
  lookbackSeconds: z
    .union([z.number(), z.string()])
    .transform((v) => String(v))
    .pipe(integer(0, 7 * 24 * 3600, 'seconds'))
    .optional(),
  webhookSecretFile: text.optional(),
  webhookSecretEnv: envName.optional(),
  paused: z.boolean().optional(),
});
export type InstallationInput = z.input<typeof installationInput>;

/** The default mirror schema of an installation: provet_<name>, - as _. */
function defaultSchemaOf(name: string): string {
  return `provet_${name.replace(/-/g, '_')}`;
}

const DEFAULTS = {
  schedule: settingsSchema.shape.SYNC_SCHEDULE.parse(undefined),
  reconcileSchedule: settingsSchema.shape.RECONCILE_SCHEDULE.parse(undefined),
  lookbackSeconds: settingsSchema.shape.SYNC_LOOKBACK_SECONDS.parse(undefined),
};

export interface CheckedSpecs {
  rows: Installation[];
  problems: string[];
  /** Worth saying, not worth refusing: e.g. an environment variable this process does not have. */
  warnings: string[];
}

/**
 * Checks `inputs` (each labelled for messages, e.g. "installations[2]" or "add") and makes them
 * rows. `others`: installations already registered that these do not replace (their schemas are
 * taken). Files are checked from this process: a path is made absolute against the working folder.
 */
export async function checkInstallations(
  inputs: ReadonlyArray<{ label: string; input: unknown }>,
  others: readonly Installation[],
  controlSchema: string,
  groupSchema: string = DEFAULT_GROUP_SCHEMA,
): Promise<CheckedSpecs> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const rows: Installation[] = [];
  const schemaOwners = new Map(others.map((o) => [o.mirrorSchema, o.name]));
  const names = new Set<string>();
  for (const { label, input } of inputs) {
    const named = typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : '';
    const where = named ? `${label} (${named})` : label;
    const problem = (message: string) => problems.push(`${where}: ${message}`);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      problem('expected an object of fields (name, baseUrl, ...)');
      continue;
    }
    // Field by field, so that one bad value does not hide the problems of the others.
    const before = problems.length;
    const fields = input as Record<string, unknown>;
    const shape = installationInput.shape;
    for (const key of Object.keys(fields)) if (!(key in shape)) problem(`unknown field ${key}`);
    const parsed: Record<string, unknown> = {};
    for (const [key, type] of Object.entries(shape)) {
      if (fields[key] === undefined) {
        if (!type.safeParse(undefined).success) problem(`${key} is required`);
        continue;
      }
      const result = type.safeParse(fields[key]);
      if (result.success) parsed[key] = result.data;
      else problem(describeIssue(key, result.error.issues[0]));
    }
    const spec = parsed as Partial<z.output<typeof installationInput>>;
    if (spec.name !== undefined && names.has(spec.name)) problem(`the name ${spec.name} is given twice`);
    if (spec.name !== undefined) names.add(spec.name);

    const secrets = (['clientSecretFile', 'clientSecretEnv', 'apiTokenFile', 'apiTokenEnv'] as const).filter(
      (k) => spec[k] !== undefined,
    );
    if (secrets.length !== 1)
      problem(
        `give exactly one credential: clientSecretFile or clientSecretEnv (with clientId), or apiTokenFile or apiTokenEnv; got ${secrets.length ? secrets.join(', ') : 'none'}`,
      );
    const oauth = secrets[0] === 'clientSecretFile' || secrets[0] === 'clientSecretEnv';
    if (oauth && spec.clientId === undefined) problem('clientId is required with a client secret');
    if (!oauth && spec.clientId !== undefined) problem('clientId goes with a client secret, not an API token');
    if (!oauth && spec.tokenUrl !== undefined) problem('tokenUrl goes with a client secret, not an API token');
    if (spec.webhookSecretFile !== undefined && spec.webhookSecretEnv !== undefined)
      problem('give webhookSecretFile or webhookSecretEnv, not both');

    const secretFile = spec.clientSecretFile ?? spec.apiTokenFile;
    const secretEnv = spec.clientSecretEnv ?? spec.apiTokenEnv;
    const files = [
      [secretFile, oauth ? 'clientSecretFile' : 'apiTokenFile'],
      [spec.webhookSecretFile, 'webhookSecretFile'],
    ] as const;
    for (const [file, field] of files) {
      if (file === undefined) continue;
      const unreadable = await whyUnreadable(resolve(file));
      if (unreadable) problem(`${field} ${resolve(file)} ${unreadable}`);
    }
    for (const env of [secretEnv, spec.webhookSecretEnv]) {
      if (env !== undefined && !process.env[env])
        warnings.push(`${where}: ${env} is not set here; the workers must have it`);
    }

    const mirrorSchema = spec.schema ?? (spec.name === undefined ? undefined : defaultSchemaOf(spec.name));
    if (mirrorSchema !== undefined) {
      const reserved = reservedBecause(mirrorSchema, controlSchema, groupSchema);
      if (reserved) problem(`schema ${mirrorSchema} ${reserved}`);
      const owner = schemaOwners.get(mirrorSchema);
      if (owner !== undefined && owner !== spec.name) problem(`schema ${mirrorSchema} is already used by ${owner}`);
      schemaOwners.set(mirrorSchema, spec.name ?? label);
    }

    if (problems.length > before || spec.name === undefined || spec.baseUrl === undefined || !mirrorSchema) continue;
    rows.push({
      name: spec.name,
      baseUrl: spec.baseUrl,
      authMethod: oauth ? 'oauth' : 'token',
      clientId: oauth ? spec.clientId! : null,
      tokenUrl: spec.tokenUrl ?? null,
      secretFile: secretFile === undefined ? null : resolve(secretFile),
      secretEnv: secretEnv ?? null,
      mirrorSchema,
      schedule: spec.schedule ?? DEFAULTS.schedule,
      reconcileSchedule: orNull(spec.reconcileSchedule ?? DEFAULTS.reconcileSchedule),
      lookbackSeconds: spec.lookbackSeconds ?? DEFAULTS.lookbackSeconds,
      webhookSecretFile: spec.webhookSecretFile === undefined ? null : resolve(spec.webhookSecretFile),
      webhookSecretEnv: spec.webhookSecretEnv ?? null,
      paused: spec.paused ?? false,
    });
  }
  return { rows, problems, warnings };
}

function orNull(schedule: string): string | null {
  return schedule === 'off' ? null : schedule;
}

function reservedBecause(schema: string, controlSchema: string, groupSchema: string): string | undefined {
  if (schema === controlSchema) return 'is the registry’s own (PROVET_CONTROL_SCHEMA)';
  if (schema === groupSchema) return 'holds the views across installations';
  if (schema === 'public' || schema === 'information_schema' || schema.startsWith('pg_'))
    return 'belongs to PostgreSQL';
  // grant-reader --no-identities names its views' schema <mirror>_no_identities.
  if (schema.endsWith('_no_identities')) return 'ends in _no_identities, the name of a mirror’s identity-free views';
  return undefined;
}

async function whyUnreadable(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return 'is not a file';
    await access(path, constants.R_OK);
    if (info.size === 0) return 'is empty';
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'does not exist';
    if (code === 'EACCES') return 'cannot be read by this user';
    return `cannot be read (${code ?? 'error'})`;
  }
}

function describeIssue(field: string, issue: z.core.$ZodIssue | undefined): string {
  if (issue?.code === 'custom') return `${field}: expected ${issue.message}`;
  return `${field}: ${issue?.message ?? 'refused'}`;
}
