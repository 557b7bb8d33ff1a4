/**
 * The file store's record payloads: each StoreOp as a tag byte and its fields in a fixed order
 * (big-endian; ids as int64; times as float64; strings as an int32 byte length, -1 for null).
 * Encoding writes straight into the batch being collected, with no JSON text and no buffer per
 * record; this is where the TC spent most of its store time when records were JSON.
 *
 * A payload that starts with `{` is a JSON record (the format before this codec), so a log
 * written by an older dtx still replays.
 */
import { ByteReader, type ByteWriter } from '@dtx/protocol';
import type { BranchSession, GlobalSession } from '../../session/global-session.js';
import { opFromJson } from '../session-codec.js';
import type { StoreOp } from '../transaction-store.js';

/** Payload tags, one per StoreOp kind. */
export const RecordTag = {
  GLOBAL_ADD: 1,
  GLOBAL_UPDATE: 2,
  GLOBAL_REMOVE: 3,
  BRANCH_ADD: 4,
  BRANCH_UPDATE: 5,
  BRANCH_REMOVE: 6,
} as const;

/** First byte of a JSON payload. */
const JSON_OPEN = 0x7b;
const NULL_LENGTH = -1;

function putString(w: ByteWriter, s: string | null, field: string): void {
  if (s === null) w.i32(NULL_LENGTH);
  else if (s.length === 0) w.i32(0);
  else w.s32(s, field);
}

function getString(r: ByteReader, field: string): string | null {
  const len = r.i32(field);
  if (len === NULL_LENGTH) return null;
  if (len < 0) throw new Error(`${field} has a negative length ${len}`);
  return len === 0 ? '' : r.utf8(len, field);
}

function getRequired(r: ByteReader, field: string): string {
  const s = getString(r, field);
  if (s === null) throw new Error(`${field} is null`);
  return s;
}

function putBranch(w: ByteWriter, b: BranchSession): void {
  w.i64(b.branchId);
  w.i64(b.transactionId);
  w.i32(b.branchType);
  w.i32(b.status);
  w.f64(b.beginTime);
  putString(w, b.xid, 'xid');
  putString(w, b.resourceGroupId, 'resourceGroupId');
  putString(w, b.resourceId, 'resourceId');
  putString(w, b.clientId, 'clientId');
  putString(w, b.applicationData, 'applicationData');
  putString(w, b.lockKey, 'lockKey');
}

function getBranch(r: ByteReader): BranchSession {
  const branchId = r.i64('branchId');
  const transactionId = r.i64('transactionId');
  const branchType = r.i32('branchType') as BranchSession['branchType'];
  const status = r.i32('status');
  const beginTime = r.f64('beginTime');
  return {
    branchId,
    xid: getRequired(r, 'xid'),
    transactionId,
    resourceGroupId: getString(r, 'resourceGroupId'),
    resourceId: getRequired(r, 'resourceId'),
    branchType,
    status,
    clientId: getRequired(r, 'clientId'),
    applicationData: getString(r, 'applicationData'),
    lockKey: getString(r, 'lockKey'),
    beginTime,
  };
}

function putGlobal(w: ByteWriter, g: GlobalSession): void {
  w.i64(g.transactionId);
  w.i32(g.status);
  w.f64(g.timeout);
  w.f64(g.beginTime);
  w.u8(g.active ? 1 : 0);
  putString(w, g.xid, 'xid');
  putString(w, g.applicationId, 'applicationId');
  putString(w, g.transactionServiceGroup, 'transactionServiceGroup');
  putString(w, g.transactionName, 'transactionName');
  putString(w, g.applicationData, 'applicationData');
  w.i32(g.branches.length);
  for (const b of g.branches) putBranch(w, b);
}

function getGlobal(r: ByteReader): GlobalSession {
  const transactionId = r.i64('transactionId');
  const status = r.i32('status');
  const timeout = r.f64('timeout');
  const beginTime = r.f64('beginTime');
  const active = r.u8('active') === 1;
  const xid = getRequired(r, 'xid');
  const applicationId = getString(r, 'applicationId');
  const transactionServiceGroup = getString(r, 'transactionServiceGroup');
  const transactionName = getString(r, 'transactionName');
  const applicationData = getString(r, 'applicationData');
  const count = r.i32('branches');
  // Each branch takes at least 52 bytes: a count the payload cannot hold is corruption.
  if (count < 0 || count * 52 > r.remaining) throw new Error(`bad branch count ${count}`);
  const branches: BranchSession[] = [];
  for (let i = 0; i < count; i++) branches.push(getBranch(r));
  return {
    xid,
    transactionId,
    status,
    applicationId,
    transactionServiceGroup,
    transactionName,
    timeout,
    beginTime,
    applicationData,
    active,
    branches,
  };
}

/** Appends the payload of `op` to `w`. */
export function writeOp(w: ByteWriter, op: StoreOp): void {
  switch (op.op) {
    case 'globalAdd':
      w.u8(RecordTag.GLOBAL_ADD);
      putGlobal(w, op.global);
      return;
    case 'globalUpdate':
      // `expect` is not stored: the store checks it before logging, so a logged update applies.
      w.u8(RecordTag.GLOBAL_UPDATE);
      w.i32(op.status);
      w.u8(op.active ? 1 : 0);
      putString(w, op.xid, 'xid');
      return;
    case 'globalRemove':
      w.u8(RecordTag.GLOBAL_REMOVE);
      putString(w, op.xid, 'xid');
      return;
    case 'branchAdd':
      w.u8(RecordTag.BRANCH_ADD);
      putBranch(w, op.branch);
      return;
    case 'branchUpdate':
      w.u8(RecordTag.BRANCH_UPDATE);
      w.i64(op.branchId);
      w.i32(op.status);
      putString(w, op.xid, 'xid');
      putString(w, op.applicationData, 'applicationData');
      return;
    case 'branchRemove':
      w.u8(RecordTag.BRANCH_REMOVE);
      w.i64(op.branchId);
      putString(w, op.xid, 'xid');
      return;
  }
}

const reader = new ByteReader(Buffer.alloc(0));

/**
 * Decodes the payload `data[start, end)`. Throws on anything that is not exactly one record
 * (unknown tag, a field past the end, bytes left over, invalid UTF-8): replay stops there.
 */
export function readOp(data: Buffer, start: number, end: number): StoreOp {
  if (data[start] === JSON_OPEN) return opFromJson(data.toString('utf8', start, end));
  const r = reader;
  r.reset(data, start, end);
  let op: StoreOp;
  const tag = r.u8('tag');
  switch (tag) {
    case RecordTag.GLOBAL_ADD:
      op = { op: 'globalAdd', global: getGlobal(r) };
      break;
    case RecordTag.GLOBAL_UPDATE: {
      const status = r.i32('status');
      const active = r.u8('active') === 1;
      op = { op: 'globalUpdate', xid: getRequired(r, 'xid'), status, active };
      break;
    }
    case RecordTag.GLOBAL_REMOVE:
      op = { op: 'globalRemove', xid: getRequired(r, 'xid') };
      break;
    case RecordTag.BRANCH_ADD:
      op = { op: 'branchAdd', branch: getBranch(r) };
      break;
    case RecordTag.BRANCH_UPDATE: {
      const branchId = r.i64('branchId');
      const status = r.i32('status');
      const xid = getRequired(r, 'xid');
      op = { op: 'branchUpdate', xid, branchId, status, applicationData: getString(r, 'applicationData') };
      break;
    }
    case RecordTag.BRANCH_REMOVE: {
      const branchId = r.i64('branchId');
      op = { op: 'branchRemove', xid: getRequired(r, 'xid'), branchId };
      break;
    }
    default:
      throw new Error(`unknown record tag ${tag}`);
  }
  if (r.remaining !== 0) throw new Error(`${r.remaining} bytes after a record`);
  return op;
}
