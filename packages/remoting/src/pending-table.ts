/**
 * The requests of one session that wait for a response, by request id. Ids are handed out in
 * sequence, so the ones in flight at any moment sit close together: each id has a slot in a
 * fixed ring (`id & mask`), and an id whose slot is still held by a much older request (one
 * waiting out a long timeout) goes to an overflow map. A Map alone costs a hash insert, lookup
 * and delete per round trip, plus a rehash of its table every few hundred requests; the ring
 * costs an array store and load. The ring starts small (a TC holds thousands of sessions that
 * seldom send a request) and doubles, up to `maxRing`, when ids collide while it is at least
 * half full.
 */

/** What the table needs of an entry: the id it is filed under. */
export interface PendingEntry {
  id: number;
}

const MIN_RING = 16;

export class PendingTable<T extends PendingEntry> {
  private slots: Array<T | undefined> = [];
  private mask = -1;
  private readonly maxRing: number;
  private readonly overflow = new Map<number, T>();
  private count = 0;

  /** `maxRing` (the largest the ring grows) is rounded up to a power of two. */
  constructor(maxRing = 4096) {
    let size = MIN_RING;
    while (size < maxRing) size *= 2;
    this.maxRing = size;
  }

  get size(): number {
    return this.count;
  }

  /** Files `entry` under `entry.id`, which must not be in the table. */
  add(entry: T): void {
    if (this.mask < 0) this.resize(MIN_RING);
    let i = entry.id & this.mask;
    if (
      this.slots[i] !== undefined &&
      this.slots.length < this.maxRing &&
      this.count * 2 >= this.slots.length
    ) {
      this.resize(this.slots.length * 2);
      i = entry.id & this.mask;
    }
    if (this.slots[i] === undefined) this.slots[i] = entry;
    else this.overflow.set(entry.id, entry);
    this.count++;
  }

  /** Moves every entry into a ring of `size` slots (the overflow too, where its slot is free). */
  private resize(size: number): void {
    const entries = this.slots.filter((e): e is T => e !== undefined);
    for (const e of this.overflow.values()) entries.push(e);
    this.overflow.clear();
    this.slots = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (const e of entries) {
      const i = e.id & this.mask;
      if (this.slots[i] === undefined) this.slots[i] = e;
      else this.overflow.set(e.id, e);
    }
  }

  get(id: number): T | undefined {
    if (this.count === 0) return undefined;
    const e = this.slots[id & this.mask];
    if (e !== undefined && e.id === id) return e;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Removes and returns the entry filed under `id`, if any. */
  take(id: number): T | undefined {
    if (this.count === 0) return undefined;
    const i = id & this.mask;
    const e = this.slots[i];
    if (e !== undefined && e.id === id) {
      this.slots[i] = undefined;
      this.count--;
      return e;
    }
    if (this.overflow.size === 0) return undefined;
    const o = this.overflow.get(id);
    if (o !== undefined) {
      this.overflow.delete(id);
      this.count--;
    }
    return o;
  }

  /** Removes every entry and returns them, in no particular order. */
  drain(): T[] {
    const out: T[] = [];
    if (this.count === 0) return out;
    for (let i = 0; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e !== undefined) {
        out.push(e);
        this.slots[i] = undefined;
      }
    }
    for (const e of this.overflow.values()) out.push(e);
    this.overflow.clear();
    this.count = 0;
    return out;
  }
}
