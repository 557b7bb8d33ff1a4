/** Sibling-package internals of @dtx/server; not for users. */

export { encodeRecord, readRecords } from './store/file/file-store.js';
export { applyOp, globalFromJson, globalToJson, opFromJson, opToJson } from './store/session-codec.js';
