// Fleet mode's webhooks: POST /webhooks/provet/<installation>/<secret> on any worker. A hint is
// written to the control schema (webhook_hints) and the installation's re-fetch job is queued a
// debounce later, so any worker may run it, one at a time with the installation's other runs.
// Each installation's webhook secret is read from its file or variable, as its credentials are,
// and kept for a short while; without one, the installation has no webhook endpoint.
import type pg from 'pg';
import type { Hint } from '../daemon/webhook.js';
import { secretMatches } from '../daemon/webhook.js';
import type { WebhookRouter } from '../daemon/server.js';
import { quoteIdent } from '../db/connect.js';
import { getInstallation } from '../db/control/registry.js';
import type { Logger } from '../log.js';
import { enqueueRefetch } from './queue.js';
import { readSecretRef } from './secret-refs.js';

/** Hints waiting per installation beyond this are dropped (200, queued 0): the poll brings the change. */
const MAX_WAITING_HINTS = 10_000;
/** How long a read webhook secret is trusted before the registry and its file are read again. */
const SECRET_TTL_MS = 10_000;

export interface FleetWebhookOptions {
  pool: pg.Pool;
  controlSchema: string;
  queueSchema: string;
  maxBodyBytes: number;
  debounceMs: number;
  logger: Logger;
}

export function fleetWebhookRouter(options: FleetWebhookOptions): WebhookRouter {
  const secrets = new Map<string, { secret: string | null; until: number }>();
  const secretOf = async (name: string): Promise<string | null> => {
    const cached = secrets.get(name);
    if (cached && cached.until > Date.now()) return cached.secret;
    const installation = await getInstallation(options.pool, options.controlSchema, name);
    let secret: string | null = null;
    if (installation && (installation.webhookSecretFile ?? installation.webhookSecretEnv) !== null) {
      try {
        secret = await readSecretRef(installation.webhookSecretFile, installation.webhookSecretEnv, 'webhook secret');
      } catch (err) {
        options.logger.warn({ installation: name }, `${(err as Error).message}: the webhooks of ${name} answer 404`);
      }
    }
    secrets.set(name, { secret, until: Date.now() + SECRET_TTL_MS });
    return secret;
  };
  return {
    maxBodyBytes: options.maxBodyBytes,
    route: async (rest) => {
      const slash = rest.indexOf('/');
      if (slash <= 0) return null;
      const name = rest.slice(0, slash);
      if (!/^[a-z][a-z0-9-]{0,39}$/.test(name)) return null;
      const secret = await secretOf(name);
      if (secret === null || !secretMatches(rest.slice(slash + 1), secret)) return null;
      return { accept: (hints) => acceptHints(options, name, hints) };
    },
  };
}

async function acceptHints(options: FleetWebhookOptions, installation: string, hints: Hint[]): Promise<number> {
  const control = quoteIdent(options.controlSchema);
  const waiting = await options.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${control}.webhook_hints WHERE installation = $1`,
    [installation],
  );
  if (Number(waiting.rows[0]!.n) + hints.length > MAX_WAITING_HINTS) return 0;
  await options.pool.query(
    `INSERT INTO ${control}.webhook_hints (installation, kind, record_id)
     SELECT $1, kind, id FROM unnest($2::text[], $3::bigint[]) AS h(kind, id)
     ON CONFLICT DO NOTHING`,
    [installation, hints.map((h) => h.kind), hints.map((h) => h.id)],
  );
  await enqueueRefetch(options.pool, options.queueSchema, installation, options.debounceMs);
  return hints.length;
}

/**
 * Takes up to `limit` waiting hints of the installation out of the table, for its re-fetch job.
 * Taken within the job's own connection and before the run: if the run then fails, the job is
 * retried by the queue, but those hints are gone; the poll brings their changes in any case.
 */
export async function takeHints(
  pool: pg.Pool,
  controlSchema: string,
  installation: string,
  limit: number,
): Promise<{ clients: number[]; patients: number[]; more: boolean }> {
  const control = quoteIdent(controlSchema);
  const { rows } = await pool.query<{ kind: string; record_id: string }>(
    `DELETE FROM ${control}.webhook_hints
     WHERE (installation, kind, record_id) IN (
       SELECT installation, kind, record_id FROM ${control}.webhook_hints WHERE installation = $1
       ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING kind, record_id`,
    [installation, limit],
  );
  const left = await pool.query(`SELECT 1 FROM ${control}.webhook_hints WHERE installation = $1 LIMIT 1`, [
    installation,
  ]);
  return {
    clients: rows.filter((r) => r.kind === 'client').map((r) => Number(r.record_id)),
    patients: rows.filter((r) => r.kind === 'patient').map((r) => Number(r.record_id)),
    more: (left.rowCount ?? 0) > 0,
  };
}
