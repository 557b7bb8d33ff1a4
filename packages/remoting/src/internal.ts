/** Sibling-package internals of @dtx/remoting; not for users. */
export { SESSION_OPTION_VALIDATORS } from './options.js';
