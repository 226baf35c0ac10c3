// The purge: what the mirror keeps of a person once Provet no longer has them. A client or patient
// whose deleted_at is older than the retention period keeps its row as a tombstone (id, Provet's
// created/modified, the codes and flags that are about no one, deleted_at, purged_at) so that
// counts over time keep their meaning; every column PERSONAL_DATA (schema.ts) classifies as
// 'identity' or 'personal' is erased, `raw` included, and the rows that belong to the record
// (phone numbers, custom field values) are deleted. Refused payloads in sync_rejects are deleted
// whole once older than their own retention period: they are raw records, personal data included.
//
// Archived records are not deleted records: Provet keeps them, and so does the mirror.
import type pg from 'pg';
import { classifiedColumns, type ClassifiedColumn } from './schema.js';

export interface RetentionSettings {
  /** Days a deleted client or patient keeps its personal data; 0: purged by the next purge. */
  deletedRetentionDays: number;
  /** Days a refused record's row stays in sync_rejects; 0: removed by the next purge. */
  rejectsRetentionDays: number;
}

/** What one purge erased or removed, per table (the `streams` of its sync_runs row). */
export interface PurgeCounts {
  clients: { purged: number };
  patients: { purged: number };
  phone_numbers: { deleted: number };
  custom_field_values: { deleted: number };
  sync_rejects: { deleted: number };
}

/** `col = NULL` for every personal column; `raw` (not null) becomes an empty object. */
function erasure(columns: readonly ClassifiedColumn[]): string {
  return columns
    .filter((c) => c.class !== 'none')
    .map((c) => {
      if (!c.notNull) return `${c.name} = NULL`;
      if (c.isJson) return `${c.name} = '{}'::jsonb`;
      // A personal column that may not be empty has no erased value: classify it or allow NULL.
      throw new Error(`purge: personal column ${c.name} is NOT NULL and not jsonb; it cannot be erased`);
    })
    .join(', ');
}

const ERASE_CLIENT = erasure(classifiedColumns('clients'));
const ERASE_PATIENT = erasure(classifiedColumns('patients'));

/**
 * Purges within the caller's transaction (a run's leased transaction, or one a dry run rolls
 * back) and returns the counts. `now()` is the transaction's start, so each step sees one cutoff.
 */
export async function purgeExpired(db: pg.PoolClient, settings: RetentionSettings): Promise<PurgeCounts> {
  const clients = await db.query<{ id: string }>(
    `UPDATE clients SET ${ERASE_CLIENT}, purged_at = now()
     WHERE purged_at IS NULL AND deleted_at <= now() - make_interval(days => $1)
     RETURNING id`,
    [settings.deletedRetentionDays],
  );
  const purgedClientIds = clients.rows.map((r) => r.id);
  // A client's animals go with it: Provet deletes them with their owner, and a pet's microchip
  // leads back to the owner. One still marked live (reconciliation has not seen the cascade yet)
  // is taken as deleted now; should Provet still have it, the next sync that reads it restores it.
  const patients = await db.query(
    `UPDATE patients SET ${ERASE_PATIENT}, purged_at = now(), deleted_at = coalesce(deleted_at, now())
     WHERE purged_at IS NULL
       AND (deleted_at <= now() - make_interval(days => $1) OR client_id = ANY($2::bigint[]))`,
    [settings.deletedRetentionDays, purgedClientIds],
  );
  const phoneNumbers = await db.query(
    `DELETE FROM phone_numbers p USING clients c WHERE c.id = p.client_id AND c.purged_at IS NOT NULL`,
  );
  const customValues = await db.query(
    `DELETE FROM custom_field_values v
     WHERE (v.object_type = 'client' AND EXISTS
             (SELECT 1 FROM clients c WHERE c.id = v.object_id AND c.purged_at IS NOT NULL))
        OR (v.object_type = 'patient' AND EXISTS
             (SELECT 1 FROM patients p WHERE p.id = v.object_id AND p.purged_at IS NOT NULL))`,
  );
  const rejects = await db.query(`DELETE FROM sync_rejects WHERE rejected_at <= now() - make_interval(days => $1)`, [
    settings.rejectsRetentionDays,
  ]);
  return {
    clients: { purged: clients.rowCount ?? 0 },
    patients: { purged: patients.rowCount ?? 0 },
    phone_numbers: { deleted: phoneNumbers.rowCount ?? 0 },
    custom_field_values: { deleted: customValues.rowCount ?? 0 },
    sync_rejects: { deleted: rejects.rowCount ?? 0 },
  };
}
