// The registry of installations: reads and writes of the control schema's `installations` table.
// Column names come from the drizzle declaration (control/schema.ts), so a column is named once.
import { getTableColumns } from 'drizzle-orm';
import type pg from 'pg';
import { quoteIdent } from '../connect.js';
import { installations } from './schema.js';

/** An installation as registered: every column but the bookkeeping timestamps. */
export type Installation = Omit<typeof installations.$inferSelect, 'createdAt' | 'updatedAt'>;
export type InstallationKey = keyof Installation;

const COLUMNS = Object.entries(getTableColumns(installations))
  .filter(([key]) => key !== 'createdAt' && key !== 'updatedAt')
  .map(([key, column]) => ({ key: key as InstallationKey, name: column.name }));

/** The column a field is stored in (for messages that name what changed). */
export function columnOf(key: InstallationKey): string {
  return COLUMNS.find((c) => c.key === key)!.name;
}

const SELECT_LIST = COLUMNS.map((c) => `${c.name} AS "${c.key}"`).join(', ');

function table(controlSchema: string): string {
  return `${quoteIdent(controlSchema)}.installations`;
}

export async function listInstallations(db: pg.Pool | pg.PoolClient, controlSchema: string): Promise<Installation[]> {
  const { rows } = await db.query<Installation>(`SELECT ${SELECT_LIST} FROM ${table(controlSchema)} ORDER BY name`);
  return rows;
}

export async function insertInstallation(db: pg.PoolClient, controlSchema: string, row: Installation): Promise<void> {
  await db.query(
    `INSERT INTO ${table(controlSchema)} (${COLUMNS.map((c) => c.name).join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
    COLUMNS.map((c) => row[c.key]),
  );
}

export async function updateInstallation(db: pg.PoolClient, controlSchema: string, row: Installation): Promise<void> {
  const changed = COLUMNS.filter((c) => c.key !== 'name');
  await db.query(
    `UPDATE ${table(controlSchema)} SET ${changed.map((c, i) => `${c.name} = $${i + 2}`).join(', ')}, updated_at = now() WHERE name = $1`,
    [row.name, ...changed.map((c) => row[c.key])],
  );
}

/** Removes the installation and returns what it was, or null when there was none by that name. */
export async function deleteInstallation(
  db: pg.PoolClient,
  controlSchema: string,
  name: string,
): Promise<Installation | null> {
  const { rows } = await db.query<Installation>(
    `DELETE FROM ${table(controlSchema)} WHERE name = $1 RETURNING ${SELECT_LIST}`,
    [name],
  );
  return rows[0] ?? null;
}

/** Sets the paused flag; false when there is no installation by that name. */
export async function setPaused(db: pg.Pool, controlSchema: string, name: string, paused: boolean): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${table(controlSchema)} SET paused = $2, updated_at = now() WHERE name = $1`,
    [name, paused],
  );
  return rowCount === 1;
}

/**
 * Serialises edits of the registry within the caller's transaction, so that two `apply`s (or an
 * `add` beside an `apply`) cannot both pass the checks against what the other is writing.
 */
export async function lockRegistry(db: pg.PoolClient, controlSchema: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('provet-sync:registry'), hashtext($1))`, [controlSchema]);
}

export async function getInstallation(
  db: pg.Pool | pg.PoolClient,
  controlSchema: string,
  name: string,
): Promise<Installation | null> {
  const { rows } = await db.query<Installation>(`SELECT ${SELECT_LIST} FROM ${table(controlSchema)} WHERE name = $1`, [
    name,
  ]);
  return rows[0] ?? null;
}
