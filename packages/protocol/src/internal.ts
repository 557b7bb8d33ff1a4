/** Sibling-package internals of @dtx/protocol; not for users. */
export { ByteReader, ByteWriter, truncateUtf8 } from './byte-io.js';
export { isMember } from './constants.js';
export { checkFrameStart, decodeFrameAt } from './frame.js';
