import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PendingTable } from '../src/internal.js';

interface Entry {
  id: number;
  tag: number;
}

describe('PendingTable', () => {
  it('behaves as a map from id to entry, whatever the ids in flight (ring collisions included)', () => {
    // A ring of at most 32 slots (it starts at 16 and doubles), ids handed out in sequence as a
    // session does (wrapping at 2^31), and requests completed in any order: old ones left
    // waiting push later ids into the overflow, and a growth moves them back.
    const step = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), skip: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('take' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('miss' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.array(step, { maxLength: 300 }),
        (start, steps) => {
          const table = new PendingTable<Entry>(32);
          const model = new Map<number, Entry>();
          let counter = start;
          let tag = 0;
          for (const s of steps) {
            if (s.kind === 'add') {
              counter = (counter + s.skip) & 0x7fffffff || 1;
              if (model.has(counter)) continue;
              const e = { id: counter, tag: tag++ };
              table.add(e);
              model.set(counter, e);
            } else {
              const ids = [...model.keys()];
              const id = s.kind === 'take' && ids.length > 0 ? (ids[s.pick % ids.length] as number) : s.pick;
              assert.equal(table.get(id), model.get(id));
              assert.equal(table.has(id), model.has(id));
              assert.equal(table.take(id), model.get(id));
              model.delete(id);
              assert.equal(table.take(id), undefined, 'taken once only');
            }
            assert.equal(table.size, model.size);
          }
          const rest = table.drain().sort((a, b) => a.tag - b.tag);
          assert.deepEqual(
            rest,
            [...model.values()].sort((a, b) => a.tag - b.tag),
          );
          assert.equal(table.size, 0);
          for (const id of model.keys()) assert.equal(table.get(id), undefined);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps entries that overflowed when the ring grows, and finds them after', () => {
    const table = new PendingTable<Entry>(64);
    // 1, 17 and 33 share a slot of the first 16-slot ring; the table is far from half full, so
    // 17 and 33 overflow instead of growing the ring.
    for (const id of [1, 17, 33]) table.add({ id, tag: id });
    // Filling the ring past half makes the next collision grow it: 16 slots, then 32, then 64.
    const ids = [1, 17, 33];
    for (let id = 2; id <= 40; id++) {
      if (ids.includes(id)) continue;
      table.add({ id, tag: id });
      ids.push(id);
    }
    assert.equal(table.size, ids.length);
    for (const id of ids) assert.equal(table.get(id)?.tag, id, `id ${id}`);
    for (const id of ids) assert.equal(table.take(id)?.tag, id, `take ${id}`);
    assert.equal(table.size, 0);
    assert.deepEqual(table.drain(), []);
  });
});
