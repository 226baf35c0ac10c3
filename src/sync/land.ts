// Landing one page: every write for the page in one transaction. When the set-based statement
// trips over one bad row (a value the database refuses), the page is written again row by row
// so that only that row is rejected and the rest of the page lands.
import type pg from 'pg';
import { recordRejects } from '../db/rejects.js';
import { withLeasedTransaction } from '../db/run-lock.js';
import type { RunContext } from './context.js';
import type { Reject } from './rows.js';

/** SQLSTATE classes that mean "this data", not "this connection": 22 data, 23 integrity, 54 limits. */
function isDataError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

/**
 * Why PostgreSQL refused a record, without the refused value: its messages quote the value
 * (`value "…" is out of range for type integer`), and a reason is logged as well as kept in
 * sync_rejects beside the payload, which still holds it. Quoted names after a word that says what
 * they name (type "…", column "…") stay. Anything else from the first other quote to the end of
 * the message goes: a value may itself hold quotes, so its end cannot be told from the text, only
 * the message's form after it (kept for the forms known to end so: "is out of range for type x").
 * Byte values (0x..) go too. The column, when PostgreSQL names it (in COPY's context), is added.
 */
function refusal(err: Error & { column?: string; where?: string }): string {
  const NAME = /\b(?:relation|constraint|index|column|table|type|schema|encoding) "[^"]*"/g;
  const names: string[] = [];
  let message = err.message.replace(NAME, (name) => `\uE000${names.push(name) - 1}\uE000`);
  const firstValue = message.indexOf('"');
  if (firstValue >= 0) {
    const tail = / is out of range for type \w+(?: \w+)*$/.exec(message.slice(firstValue))?.[0] ?? '';
    message = `${message.slice(0, firstValue)}"…"${tail}`;
  }
  message = message
    .replace(/\uE000(\d+)\uE000/g, (_, i: string) => names[Number(i)]!)
    .replace(/0x[0-9a-f]{2}(?: 0x[0-9a-f]{2})*/gi, '0x…');
  const column = err.column ?? /\bcolumn (\w+)/.exec(err.where ?? '')?.[1];
  return `database refused the record: ${message}${column === undefined ? '' : ` (column ${column})`}`;
}

function sqlState(err: unknown): unknown {
  return (err as { code?: unknown }).code;
}

/**
 * Two pages in flight can hold one record (offset pagination shifts under inserts), and then
 * meet: a unique violation when both insert it (the other transaction has committed by the time
 * it is raised, so writing the page again merges instead), or, rarely, a deadlock. Both are about
 * timing, not about the data: the page is written again before anything is rejected.
 */
const UNIQUE_VIOLATION = '23505';
const TRANSIENT = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure
const TRANSIENT_RETRIES = 3;

export interface LandOptions<Row> {
  stream: string;
  rows: readonly Row[];
  rejects: readonly Reject[];
  /** Writes the rows and everything that goes with them; returns how many records were written. */
  write: (db: pg.PoolClient, rows: readonly Row[]) => Promise<number>;
  /** For a row the database refused: its id and payload. */
  describe: (row: Row) => { recordId: string; payload: string };
}

export async function landPage<Row>(
  ctx: Pick<RunContext, 'pool' | 'runId' | 'failpoint'>,
  options: LandOptions<Row>,
): Promise<{ written: number; rejects: Reject[] }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await landPageOnce(ctx, options);
    } catch (err) {
      if (!TRANSIENT.has(sqlState(err) as string) || attempt > TRANSIENT_RETRIES) throw err;
    }
  }
}

async function landPageOnce<Row>(
  ctx: Pick<RunContext, 'pool' | 'runId' | 'failpoint'>,
  options: LandOptions<Row>,
): Promise<{ written: number; rejects: Reject[] }> {
  const landed = await withLeasedTransaction(
    ctx.pool,
    ctx.runId,
    async (db) => {
      ctx.failpoint('before-upsert');
      const rejects = [...options.rejects];
      let written = 0;
      try {
        written = await writeRetryingUniqueViolation(db, 'page', () => options.write(db, options.rows));
      } catch (err) {
        if (!isDataError(err)) throw err;
        await db.query('ROLLBACK TO SAVEPOINT page');
        for (const row of options.rows) {
          await db.query('SAVEPOINT one_row');
          try {
            written += await writeRetryingUniqueViolation(db, 'one_row', () => options.write(db, [row]));
          } catch (rowErr) {
            if (!isDataError(rowErr)) throw rowErr;
            await db.query('ROLLBACK TO SAVEPOINT one_row');
            rejects.push({ ...options.describe(row), reason: refusal(rowErr) });
          }
        }
      }
      await recordRejects(db, ctx.runId, options.stream, rejects);
      ctx.failpoint('after-upsert');
      return { written, rejects };
    },
    'SAVEPOINT page',
  );
  ctx.failpoint('after-commit');
  return landed;
}

/**
 * write(), and once more after a unique violation (see UNIQUE_VIOLATION: the other page's insert
 * has committed by then, so the second try merges); anything else, or a second failure, is thrown.
 */
async function writeRetryingUniqueViolation(
  db: pg.PoolClient,
  savepoint: 'page' | 'one_row',
  write: () => Promise<number>,
): Promise<number> {
  try {
    return await write();
  } catch (err) {
    if (sqlState(err) !== UNIQUE_VIOLATION) throw err;
    await db.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
    return write();
  }
}
