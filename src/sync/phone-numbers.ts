// Phone numbers normally arrive as the nested copy inside each client record (no request of
// their own). For clients that come without it, they are read from phonenumber/ in batches of
// `client__in`; where Provet ignores that filter (records of other clients come back), from
// `client__is`, a request per client: bounded by the clients that need it, where the ignored
// filter would have cost a read of the whole phone list for every batch.
import { FilterIgnoredError } from '../provet/errors.js';
import { formatInFilter } from '../provet/filters.js';
import { prefetched, type RunContext } from './context.js';
import { batchedOrPerClient } from './per-client-fallback.js';
import { mapPage } from './page-rows.js';
import { mapPhoneNumber, type PhoneNumberRow } from './rows.js';

const CLIENTS_PER_REQUEST = 100;
/** Page size of a batch read (at most three or so numbers a client). */
const BATCH_PAGE_SIZE = 1000;
/** Page size of one client's read: one budget unit. */
const ONE_CLIENT_PAGE_SIZE = 50;

export async function fillMissingPhoneNumbers(
  ctx: RunContext,
  rows: { id: number; phoneNumbers: PhoneNumberRow[] | null }[],
): Promise<void> {
  const missing = rows.filter((r) => r.phoneNumbers === null);
  for (let i = 0; i < missing.length; i += CLIENTS_PER_REQUEST) {
    const batch = missing.slice(i, i + CLIENTS_PER_REQUEST);
    const ids = batch.map((r) => r.id);
    const found = await batchedOrPerClient(
      ctx,
      'phonenumber/',
      'the phone numbers of each client sent without them',
      () => readNumbers(ctx, ids, { client__in: formatInFilter(ids) }, BATCH_PAGE_SIZE),
      async () => {
        const byClient = new Map<number, PhoneNumberRow[]>();
        for (const id of ids)
          byClient.set(id, (await readNumbers(ctx, [id], { client__is: id }, ONE_CLIENT_PAGE_SIZE)).get(id) ?? []);
        return byClient;
      },
    );
    for (const row of batch) row.phoneNumbers = found.get(row.id) ?? [];
  }
}

/** The phone numbers of `clientIds` by client; throws FilterIgnoredError at the first number of another client. */
async function readNumbers(
  ctx: RunContext,
  clientIds: readonly number[],
  query: Record<string, string | number>,
  pageSize: number,
): Promise<Map<number, PhoneNumberRow[]>> {
  const byClient = new Map<number, PhoneNumberRow[]>(clientIds.map((id) => [id, []]));
  const [filter] = Object.keys(query) as [string];
  for await (const page of prefetched(ctx.provet.walk('phonenumber/', query, { pageSize, signal: ctx.signal }))) {
    for (const number of mapPage(page.records, mapPhoneNumber).rows) {
      const numbers = byClient.get(number.clientId);
      if (!numbers) {
        throw new FilterIgnoredError(
          'phonenumber/',
          filter,
          `phonenumber/ answered ${filter} with number ${number.id} of client ${number.clientId}, not asked for: Provet ignores ${filter} there` +
            (filter === 'client__is'
              ? ' as well as client__in, so the phone numbers of clients sent without them cannot be read without reading every phone number for each; the run stops'
              : ''),
        );
      }
      numbers.push(number);
    }
  }
  return byClient;
}
