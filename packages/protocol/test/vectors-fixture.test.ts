/**
 * The repository's copy of seata-vectors.txt (what the tests read) is the project's reference
 * file, byte for byte, wherever the reference is present (../shared, or DTX_SHARED).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'node:test';
import { REFERENCE_VECTORS_PATH, VECTORS_PATH } from './vectors.js';

it('test/fixtures/seata-vectors.txt is identical to the reference file', (t) => {
  if (!existsSync(REFERENCE_VECTORS_PATH)) {
    t.skip(`no reference at ${REFERENCE_VECTORS_PATH} (set DTX_SHARED to the project's shared directory)`);
    return;
  }
  const copy = readFileSync(VECTORS_PATH);
  const reference = readFileSync(REFERENCE_VECTORS_PATH);
  assert.ok(copy.equals(reference), `${VECTORS_PATH} differs from ${REFERENCE_VECTORS_PATH}`);
});
