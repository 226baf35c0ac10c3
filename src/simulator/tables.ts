// Per-record scalar state kept in typed arrays, indexed by record id: what filters and
// ordering read on every list request, so that scanning a million records touches no
// objects. Everything else about a record is generated on demand or held in an override.

export const DELETED = 1;
export const ARCHIVED = 2;
/** Archived because its client was archived: unarchiving the client undoes only these. */
export const ARCHIVED_BY_CASCADE = 4;

export class RecordTable {
  /** Highest id handed out; ids start at 1 and slot 0 is unused. */
  maxId = 0;
  created: Float64Array;
  modified: Float64Array;
  flags: Uint8Array;
  /** The owning client's id (patients, phone numbers); 0 for clients. */
  owner: Int32Array;

  constructor(capacity: number) {
    const size = Math.max(16, capacity + 1);
    this.created = new Float64Array(size);
    this.modified = new Float64Array(size);
    this.flags = new Uint8Array(size);
    this.owner = new Int32Array(size);
  }

  /** Reserves the next id, growing the arrays by half when full. */
  allocate(): number {
    const id = this.maxId + 1;
    if (id >= this.flags.length) this.grow(Math.ceil(this.flags.length * 1.5));
    this.maxId = id;
    return id;
  }

  exists(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && id <= this.maxId && (this.flags[id]! & DELETED) === 0;
  }

  isArchived(id: number): boolean {
    return (this.flags[id]! & ARCHIVED) !== 0;
  }

  private grow(size: number): void {
    const created = new Float64Array(size);
    created.set(this.created);
    this.created = created;
    const modified = new Float64Array(size);
    modified.set(this.modified);
    this.modified = modified;
    const flags = new Uint8Array(size);
    flags.set(this.flags);
    this.flags = flags;
    const owner = new Int32Array(size);
    owner.set(this.owner);
    this.owner = owner;
  }
}
