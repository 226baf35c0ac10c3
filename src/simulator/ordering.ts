// DRF's OrderingFilter as the list endpoints would use it: `ordering=field[,field...]`, a `-`
// prefix for descending, unknown fields dropped without a word (as DRF does), ties broken by id.
// A list that asks for no order (or only for fields it does not know) comes in the default order:
// by id, unless an installation quirk says otherwise (see quirks.ts).
import type { ListKind } from './filters.js';
import type { Store } from './store.js';

type OrderField = 'id' | 'created' | 'modified';
export interface OrderKey {
  field: OrderField;
  descending: boolean;
}

const ORDERABLE: Record<ListKind, readonly OrderField[]> = {
  client: ['id', 'created', 'modified'],
  patient: ['id', 'created', 'modified'],
  phonenumber: ['id'],
};

/** The understood keys of an `ordering` parameter; empty when none is understood. */
export function parseOrdering(kind: ListKind, text: string | null): OrderKey[] {
  if (text === null) return [];
  const keys: OrderKey[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const descending = item.startsWith('-');
    const field = (descending ? item.slice(1) : item) as OrderField;
    if (ORDERABLE[kind].includes(field)) keys.push({ field, descending });
  }
  return keys;
}

/** `ids` (ascending) in the order `keys` asks for; the same array when that is ascending id. */
export function applyOrdering(store: Store, kind: ListKind, ids: number[], keys: readonly OrderKey[]): number[] {
  if (keys.length === 0 || (keys[0]!.field === 'id' && !keys[0]!.descending)) return ids;
  if (keys[0]!.field === 'id') return ids.slice().reverse();
  const table = kind === 'client' ? store.clients : kind === 'patient' ? store.patients : store.phones;
  const column = (field: OrderField, id: number): number =>
    field === 'id' ? id : field === 'created' ? table.created[id]! : table.modified[id]!;
  return ids.slice().sort((a, b) => {
    for (const key of keys) {
      const diff = column(key.field, a) - column(key.field, b);
      if (diff !== 0) return key.descending ? -diff : diff;
    }
    return a - b;
  });
}

/** The first index in ascending `ids` whose id is above `bound` (or at least `bound` when inclusive). */
export function firstIndexAbove(ids: readonly number[], bound: number, inclusive: boolean): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const id = ids[middle]!;
    if (inclusive ? id < bound : id <= bound) low = middle + 1;
    else high = middle;
  }
  return low;
}
