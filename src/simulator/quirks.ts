// Ways an installation may depart from the documented API, switched on by tests to show that the
// client notices and copes: query parameters it does not know (dropped unread, as Provet drops any
// filter it cannot parse, so the whole collection comes back), and the order of a list that asks
// for none (`api-facts.md` only guesses that it is by id).
import type { OrderKey } from './ordering.js';

export interface ApiQuirks {
  /** Exact parameter names dropped unread on the record lists, e.g. 'id__gt', 'ordering', 'client__in'. */
  ignoredParameters: readonly string[];
  /** The order of a list that asks for none, or whose `ordering` is ignored. Empty: by id. */
  defaultOrdering: readonly OrderKey[];
}

export const NO_QUIRKS: ApiQuirks = { ignoredParameters: [], defaultOrdering: [] };

/** What SimulatorOptions.quirks and setQuirks take. */
export interface QuirkSettings {
  ignoredParameters?: string[];
  /** Like an `ordering` value: 'id' (the default), '-id', 'modified', '-modified', 'created', '-created'. */
  defaultOrdering?: string;
}

const PAGING = new Set(['page', 'page_size']);
const DEFAULT_ORDERINGS = new Set(['id', '-id', 'modified', '-modified', 'created', '-created']);

/** Checked settings; throws with every problem listed. */
export function parseQuirks(settings: QuirkSettings): ApiQuirks {
  const problems: string[] = [];
  const ignored = settings.ignoredParameters ?? [];
  if (!Array.isArray(ignored) || ignored.some((name) => typeof name !== 'string' || name === '')) {
    problems.push('ignoredParameters must be a list of parameter names');
  } else {
    for (const name of ignored)
      if (PAGING.has(name)) problems.push(`"${name}" is pagination, not a filter: it cannot be ignored`);
  }
  const ordering = settings.defaultOrdering ?? 'id';
  if (typeof ordering !== 'string' || !DEFAULT_ORDERINGS.has(ordering)) {
    problems.push(`defaultOrdering must be one of ${[...DEFAULT_ORDERINGS].join(', ')}`);
  }
  if (problems.length > 0) throw new RangeError(`invalid simulator quirks: ${problems.join('; ')}`);
  const descending = ordering.startsWith('-');
  const field = (descending ? ordering.slice(1) : ordering) as OrderKey['field'];
  return {
    ignoredParameters: [...ignored],
    defaultOrdering: field === 'id' && !descending ? [] : [{ field, descending }],
  };
}
