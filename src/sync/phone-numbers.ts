// Phone numbers normally arrive as the nested copy inside each client record (no request of
// their own). For clients that come without it, they are read from phonenumber/ in batches.
import { formatInFilter } from '../provet/filters.js';
import { prefetched, type RunContext } from './context.js';
import { mapPage, mapPhoneNumber, type PhoneNumberRow } from './rows.js';

const CLIENTS_PER_REQUEST = 100;

export async function fillMissingPhoneNumbers(
  ctx: RunContext,
  rows: { id: number; phoneNumbers: PhoneNumberRow[] | null }[],
): Promise<void> {
  const missing = rows.filter((r) => r.phoneNumbers === null);
  for (let i = 0; i < missing.length; i += CLIENTS_PER_REQUEST) {
    const batch = missing.slice(i, i + CLIENTS_PER_REQUEST);
    const byClient = new Map<number, PhoneNumberRow[]>(batch.map((r) => [r.id, []]));
    const query = { client__in: formatInFilter(batch.map((r) => r.id)) };
    for await (const page of prefetched(ctx.provet.pages('phonenumber/', query, { pageSize: 1000, signal: ctx.signal }))) {
      // Numbers of other clients mean the filter was ignored; they are simply not ours to place.
      for (const number of mapPage(page.records, mapPhoneNumber).rows) byClient.get(number.client_id)?.push(number);
    }
    for (const row of batch) row.phoneNumbers = byClient.get(row.id) ?? [];
  }
}
