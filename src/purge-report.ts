// What `provet-sync purge [--dry-run]` tells the person who ran it.
import type { PurgeCounts, RetentionSettings } from './db/purge.js';

export function describePurge(
  counts: PurgeCounts,
  retention: RetentionSettings,
  how: { dryRun: boolean; runId?: number },
): string {
  const days = (n: number) => (n === 1 ? '1 day' : `${n} days`);
  const [erase, del] = how.dryRun ? ['erase', 'delete'] : ['erased', 'deleted'];
  const lines = [
    how.dryRun ? 'Dry run, nothing changed. A purge now would:' : `Purge run ${how.runId} (in sync_runs, kind purge):`,
    `  ${erase} ${counts.clients.purged} clients deleted more than ${days(retention.deletedRetentionDays)} ago`,
    `  ${erase} ${counts.patients.purged} patients deleted more than ${days(retention.deletedRetentionDays)} ago or whose client is erased`,
    `  ${del} ${counts.phone_numbers.deleted} phone numbers and ${counts.custom_field_values.deleted} custom field values of erased records`,
    `  ${del} ${counts.sync_rejects.deleted} refused records (sync_rejects) older than ${days(retention.rejectsRetentionDays)}`,
    'Erased clients and patients stay as rows without personal data (purged_at set), so counts over time keep their meaning.',
  ];
  return `${lines.join('\n')}\n`;
}
