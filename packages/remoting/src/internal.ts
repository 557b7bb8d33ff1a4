/** Sibling-package internals of @dtx/remoting; not for users. */
export { SESSION_OPTION_VALIDATORS } from './options.js';
export { type PendingEntry, PendingTable } from './pending-table.js';
