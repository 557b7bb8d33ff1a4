/** Sibling-package internals of @dtx/server; not for users. */

export { appendRecord, encodeRecord, readRecords } from './store/file/file-store.js';
export { RecordTag, readOp, writeOp } from './store/file/record-codec.js';
export { applyOp, globalFromJson, globalToJson, opFromJson, opToJson } from './store/session-codec.js';
