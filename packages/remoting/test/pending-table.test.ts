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
    // A ring of 8 slots, ids handed out in sequence as a session does (wrapping at 2^31), and
    // requests completed in any order: old ones left waiting push later ids into the overflow.
    const step = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), skip: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('take' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('miss' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.array(step, { maxLength: 200 }),
        (start, steps) => {
          const table = new PendingTable<Entry>(8);
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
});
