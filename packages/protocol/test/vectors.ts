/**
 * Reads seata-vectors.txt: frames written by the real Seata Java encoder (named vectors) and a
 * live capture between a Java client and a Java TC (transcript lines). A test helper, not a
 * test: it only parses the file, it never runs our codec.
 *
 * The file is the project's reference (`../shared/reference/seata-vectors.txt`), kept in the
 * repository as `test/fixtures/seata-vectors.txt` so that a clone anywhere can run the tests;
 * vectors-fixture.test.ts checks the copy against the reference wherever both are present.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

/** The project's shared directory: DTX_SHARED, or `../shared` next to the repository root. */
export const SHARED_DIR = process.env.DTX_SHARED ?? resolve(repoRoot, '../shared');
/** The reference vector file in the shared directory (may be absent outside the project's machines). */
export const REFERENCE_VECTORS_PATH = resolve(SHARED_DIR, 'reference/seata-vectors.txt');
/** Path of the vector file the tests read: the repository's copy. */
export const VECTORS_PATH = resolve(here, 'fixtures/seata-vectors.txt');

/** One `### Title` section. */
export interface NamedVector {
  title: string;
  /** From the `rpc:` line. */
  id: number;
  messageType: number;
  codec: number;
  compressor: number;
  /** The `head=` text, e.g. `{}` or `{k=v}`. */
  head: string;
  /** The `body:` text (Java toString, possibly several lines). */
  body: string;
  hex: string;
  bytes: Buffer;
}

/** One frame of the live transcript. */
export interface TranscriptLine {
  /** Position in the transcript, from 0. */
  index: number;
  conn: string;
  direction: 'C->S' | 'S->C';
  id: number;
  /** The frame's messageType byte. */
  type: number;
  head: string;
  body: string;
  hex: string;
  bytes: Buffer;
}

/** The parsed file. */
export interface SeataVectors {
  vectors: NamedVector[];
  transcript: TranscriptLine[];
}

function toBytes(hex: string, where: string): Buffer {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) throw new Error(`${where}: not an even-length lowercase hex string`);
  return Buffer.from(hex, 'hex');
}

/** Parses the vector file's text. Throws on anything it does not recognise, so a changed file is noticed. */
export function parseVectors(text: string): SeataVectors {
  const lines = text.split('\n');
  const vectors: NamedVector[] = [];
  const transcript: TranscriptLine[] = [];
  let live = false;
  let current: Partial<NamedVector> & { bodyLines?: string[] } = {};
  let inBody = false;
  let pendingLine: Omit<TranscriptLine, 'hex' | 'bytes'> | null = null;

  const finishVector = () => {
    if (current.title === undefined) return;
    const { title, hex } = current;
    if (hex === undefined || current.id === undefined || current.bodyLines === undefined) {
      throw new Error(`vector "${title}" is incomplete`);
    }
    vectors.push({
      title,
      id: current.id,
      messageType: current.messageType as number,
      codec: current.codec as number,
      compressor: current.compressor as number,
      head: current.head as string,
      body: current.bodyLines.join('\n').trimEnd(),
      hex,
      bytes: toBytes(hex, title),
    });
    current = {};
  };

  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    const where = `seata-vectors.txt:${n + 1}`;
    if (line.startsWith('# ---- Live wire transcript')) {
      finishVector();
      live = true;
      continue;
    }
    if (!live) {
      if (line.startsWith('### ')) {
        finishVector();
        current = { title: line.slice(4).trim() };
        inBody = false;
        continue;
      }
      if (current.title === undefined) continue; // the file's header comments
      const rpc = /^rpc: id=(\d+) messageType=(\d+) codec=(\d+) compressor=(\d+) head=(\{.*\})$/.exec(line);
      if (rpc) {
        current.id = Number(rpc[1]);
        current.messageType = Number(rpc[2]);
        current.codec = Number(rpc[3]);
        current.compressor = Number(rpc[4]);
        current.head = rpc[5] as string;
        continue;
      }
      if (line.startsWith('body: ')) {
        current.bodyLines = [line.slice(6)];
        inBody = true;
        continue;
      }
      if (line.startsWith('decoded-back: ')) {
        inBody = false;
        continue;
      }
      if (line.startsWith('hex: ')) {
        current.hex = line.slice(5).trim();
        inBody = false;
        continue;
      }
      if (inBody) current.bodyLines?.push(line);
      continue;
    }
    // Live transcript.
    const frame = /^\[(conn\d+) (C->S|S->C)\] id=(\d+) type=(\d+) head=(\{[^}]*\}) body=(.*)$/.exec(line);
    if (frame) {
      if (pendingLine) throw new Error(`${where}: previous transcript line has no hex`);
      pendingLine = {
        index: transcript.length,
        conn: frame[1] as string,
        direction: frame[2] as 'C->S' | 'S->C',
        id: Number(frame[3]),
        type: Number(frame[4]),
        head: frame[5] as string,
        body: frame[6] as string,
      };
      continue;
    }
    const hex = /^\s+hex: ([0-9a-f]+)\s*$/.exec(line);
    if (hex) {
      if (!pendingLine) throw new Error(`${where}: hex without a transcript line`);
      transcript.push({ ...pendingLine, hex: hex[1] as string, bytes: toBytes(hex[1] as string, where) });
      pendingLine = null;
      continue;
    }
    if (line.trim() === '' || line.startsWith('#')) continue;
    throw new Error(`${where}: unrecognised transcript line: ${line.slice(0, 60)}`);
  }
  finishVector();
  if (pendingLine) throw new Error('last transcript line has no hex');
  return { vectors, transcript };
}

let cached: SeataVectors | undefined;

/** Reads and parses the vector file once per process. */
export function loadVectors(): SeataVectors {
  cached ??= parseVectors(readFileSync(VECTORS_PATH, 'utf8'));
  return cached;
}

/** Hex with spaces and `|` separators (as in seata-reference.md section 2.7) to bytes. */
export function hexBytes(spaced: string): Buffer {
  return Buffer.from(spaced.replace(/[\s|]/g, ''), 'hex');
}
