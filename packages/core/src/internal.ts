/** Sibling-package internals of @dtx/core; not for users. */
export { parseDuration } from './duration.js';
