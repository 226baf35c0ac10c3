// A page's mapped records as rows and rejects. Provet's pages can hold one id twice when records
// change while they are walked (pagination drift); the newest version is the one kept.
import type { Mapped, Reject } from './rows.js';

/** Maps a page; when a page holds one id twice (pagination drift), the newest version wins. */
export function mapPage<Row extends { id: number; modified?: string }>(
  records: readonly unknown[],
  mapper: (record: unknown) => Mapped<Row>,
): { rows: Row[]; rejects: Reject[] } {
  return collectPage(records.map((record) => mapper(record)));
}

/** A page's records once mapped, as rows and rejects; of one id twice, the newest version wins. */
export function collectPage<Row extends { id: number; modified?: string }>(
  mapped: readonly Mapped<Row>[],
): { rows: Row[]; rejects: Reject[] } {
  const page = new PageRows<Row>();
  for (const record of mapped) page.add(record);
  return page.result();
}

class PageRows<Row extends { id: number; modified?: string }> {
  private readonly byId = new Map<number, Row>();
  private readonly rejects: Reject[] = [];

  add(mapped: Mapped<Row>): void {
    if (!mapped.ok) {
      this.rejects.push(mapped.reject);
      return;
    }
    const existing = this.byId.get(mapped.row.id);
    if (!existing || newerOrSame(mapped.row.modified, existing.modified)) this.byId.set(mapped.row.id, mapped.row);
  }

  result(): { rows: Row[]; rejects: Reject[] } {
    return { rows: [...this.byId.values()], rejects: this.rejects };
  }
}

function newerOrSame(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  return compareTimestamps(a, b) >= 0;
}

/** Compares two ISO timestamps to the microsecond (Date alone would drop the last three digits). */
export function compareTimestamps(a: string, b: string): number {
  const [ams, aus] = splitMicros(a);
  const [bms, bus] = splitMicros(b);
  return ams !== bms ? ams - bms : aus - bus;
}

function splitMicros(ts: string): [number, number] {
  const frac = /\.(\d{1,6})/.exec(ts)?.[1] ?? '';
  const micros = Number(frac.padEnd(6, '0')) % 1000;
  return [Date.parse(ts.replace(' ', 'T')), micros];
}
