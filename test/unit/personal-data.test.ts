// PERSONAL_DATA (src/db/schema.ts) classifies every column of every mirrored table: the
// identity-free views (grant-reader --no-identities) and the purge read it, so a column left
// unclassified would be shown or kept without anyone deciding it. The compiler catches most of
// this (`satisfies`); this checks the same at run time, and that the check can fail.
import { getTableColumns, getTableName, is } from 'drizzle-orm';
import { bigint, jsonb, PgTable, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import * as schema from '../../src/db/schema.js';
import { classifiedColumns, MIRRORED_TABLES, PERSONAL_DATA } from '../../src/db/schema.js';

const CLASSES: readonly string[] = ['identity', 'personal', 'none'];

/** The SQL names of `table`'s columns that `classification` gives no valid class. */
function unclassifiedColumns(table: PgTable, classification: Record<string, string> | undefined): string[] {
  return Object.entries(getTableColumns(table))
    .filter(([key]) => !CLASSES.includes(classification?.[key] ?? ''))
    .map(([, column]) => column.name);
}

const declaredTables = Object.values(schema as Record<string, unknown>).filter((value): value is PgTable =>
  is(value, PgTable),
);
const mirrored = declaredTables.filter((table) => MIRRORED_TABLES.includes(getTableName(table)));
const classificationOf = (name: string): Record<string, string> | undefined =>
  (PERSONAL_DATA as Record<string, Record<string, string>>)[name];

describe('PERSONAL_DATA', () => {
  it('has a drizzle table for every mirrored table', () => {
    expect(mirrored.map((t) => getTableName(t)).sort()).toEqual([...MIRRORED_TABLES].sort());
  });

  it.each(MIRRORED_TABLES)('classifies every column of %s', (name) => {
    const table = mirrored.find((t) => getTableName(t) === name)!;
    expect(unclassifiedColumns(table, classificationOf(name))).toEqual([]);
    // ... and classifies nothing that is not a column (a renamed column's old key left behind).
    expect(Object.keys(classificationOf(name)!).sort()).toEqual(Object.keys(getTableColumns(table)).sort());
  });

  it('classifiedColumns gives every column of a mirrored table, by its SQL name, with a valid class', () => {
    for (const name of MIRRORED_TABLES) {
      const table = mirrored.find((t) => getTableName(t) === name)!;
      const columns = classifiedColumns(name as keyof typeof PERSONAL_DATA);
      expect(columns.map((c) => c.name)).toEqual(Object.values(getTableColumns(table)).map((c) => c.name));
      for (const c of columns) expect(CLASSES, `${name}.${c.name}`).toContain(c.class);
    }
  });

  it('the check finds a text column added without a classification', () => {
    const withNewColumn = pgTable('pets_with_nicknames', {
      id: bigint('id', { mode: 'number' }).primaryKey(),
      nickname: text('nickname'),
      raw: jsonb('raw').notNull(),
    });
    expect(unclassifiedColumns(withNewColumn, { id: 'none', raw: 'identity' })).toEqual(['nickname']);
    expect(unclassifiedColumns(withNewColumn, { id: 'none', nickname: 'secret', raw: 'identity' })).toEqual([
      'nickname',
    ]);
    expect(unclassifiedColumns(withNewColumn, undefined)).toEqual(['id', 'nickname', 'raw']);
  });
});
