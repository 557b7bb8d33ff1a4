/** Sibling-package internals of @dtx/server; not for users. */
export { applyOp, globalFromJson, globalToJson, opFromJson, opToJson } from './store/session-codec.js';
export { encodeRecord, readRecords } from './store/file/file-store.js';
