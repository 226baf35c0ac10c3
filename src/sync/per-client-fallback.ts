// Reads that ask for many clients at once with `client__in` and fall back to one request per client
// (`client__is`) where Provet ignores that filter: a cost bounded by the clients asked for, where
// the ignored filter would have read the whole list for every batch. The API client remembers the
// finding for the process, so later batches go straight to the fallback and the warning comes once.
import { FilterIgnoredError } from '../provet/errors.js';
import type { RunContext } from './context.js';

export async function batchedOrPerClient<T>(
  ctx: RunContext,
  path: string,
  /** What the read is for, in the warning: "the patients of each archived or unarchived client". */
  what: string,
  batched: () => Promise<T>,
  perClient: () => Promise<T>,
): Promise<T> {
  if (ctx.provet.ignoresFilter(path, 'client__in')) return perClient();
  try {
    return await batched();
  } catch (err) {
    if (!(err instanceof FilterIgnoredError)) throw err;
    if (ctx.provet.noteIgnoredFilter(path, 'client__in')) {
      ctx.logger.warn({ reason: err.message }, `${path} ignores client__in; reading ${what} with client__is`);
    }
    return perClient();
  }
}
