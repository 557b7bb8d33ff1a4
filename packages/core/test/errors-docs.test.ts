import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EXCEPTION_CODE_ORDINALS, ProtocolErrorCode } from '@dtx/protocol';
import { ErrorCode } from '../src/index.js';

// docs/errors.md must list every code; this keeps the docs from drifting from the code.
const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** The codes in the first column of the tables under each `## ` heading, by heading. */
function documentedCodes(): Map<string, Set<string>> {
  const sections = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of doc.split('\n')) {
    if (line.startsWith('## ')) {
      current = new Set();
      sections.set(line.slice(3).trim(), current);
      continue;
    }
    const cell = /^\|\s*`([^`]+)`\s*\|/.exec(line)?.[1];
    if (cell !== undefined && current !== undefined) current.add(cell);
  }
  return sections;
}

function sectionCodes(prefix: string): Set<string> {
  for (const [heading, codes] of documentedCodes()) if (heading.startsWith(prefix)) return codes;
  assert.fail(`docs/errors.md has no section "${prefix}"`);
}

describe('docs/errors.md', () => {
  it('lists every ErrorCode, and no code that does not exist', () => {
    const documented = new Set([...sectionCodes('Transaction codes'), ...sectionCodes('dtx codes')]);
    const missing = Object.values(ErrorCode).filter((c) => !documented.has(c));
    assert.deepEqual(missing, [], `undocumented codes: ${missing.join(', ')}`);
    const stale = [...documented].filter((c) => !(Object.values(ErrorCode) as string[]).includes(c));
    assert.deepEqual(stale, [], `documented codes that do not exist: ${stale.join(', ')}`);
  });

  it('lists every ProtocolErrorCode, and no code that does not exist', () => {
    const documented = sectionCodes('Protocol codes');
    const codes: string[] = Object.values(ProtocolErrorCode);
    assert.deepEqual(
      codes.filter((c) => !documented.has(c)),
      [],
    );
    assert.deepEqual(
      [...documented].filter((c) => !codes.includes(c)),
      [],
    );
  });

  it('gives each transaction code its wire ordinal in both numberings', () => {
    let rows = 0;
    for (const line of doc.split('\n')) {
      const m = /^\|\s*`(\w+)`\s*\|\s*(\d+)\s*\|\s*(\d+|none[^|]*?)\s*\|/.exec(line);
      if (!m) continue;
      rows++;
      const [, code, v2, v1] = m as unknown as [string, string, string, string];
      assert.equal(EXCEPTION_CODE_ORDINALS.v2.indexOf(code as never), Number(v2), `${code} 2.x`);
      const expectedV1 = EXCEPTION_CODE_ORDINALS.v1.indexOf(code as never);
      assert.equal(v1.startsWith('none') ? -1 : Number(v1), expectedV1, `${code} 1.x`);
    }
    assert.equal(rows, EXCEPTION_CODE_ORDINALS.v2.length);
  });
});
