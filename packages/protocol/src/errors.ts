/**
 * The one error the codec throws. Its `code` says what was wrong and `details` carries the
 * offending values, so a peer's log line names the byte that broke the frame.
 */

/** Every ProtocolError code, with what it means. Documented in docs/errors.md. */
export const ProtocolErrorCode = {
  /** The first two bytes are not 0xdada. */
  BAD_MAGIC: 'BAD_MAGIC',
  /** The version byte is not 1. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** fullLength or headLength are impossible, or disagree with each other or with the data. */
  BAD_LENGTH: 'BAD_LENGTH',
  /** fullLength is over the frame limit (8 MiB by default). */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** The messageType byte is not one of 0..4. */
  UNKNOWN_FRAME_TYPE: 'UNKNOWN_FRAME_TYPE',
  /** The codec byte names a serializer dtx does not speak (only SEATA = 1 is supported). */
  UNSUPPORTED_CODEC: 'UNSUPPORTED_CODEC',
  /** The compressor byte names a compressor dtx cannot run. */
  UNSUPPORTED_COMPRESSOR: 'UNSUPPORTED_COMPRESSOR',
  /** The compressed body does not inflate, or inflates past the frame limit. */
  DECOMPRESS_FAILED: 'DECOMPRESS_FAILED',
  /** The head map is malformed. */
  BAD_HEAD_MAP: 'BAD_HEAD_MAP',
  /** A field runs past the end of the body. */
  TRUNCATED: 'TRUNCATED',
  /** The body's int16 type code is not a message dtx knows. */
  UNKNOWN_TYPE_CODE: 'UNKNOWN_TYPE_CODE',
  /** An enum byte has no meaning (a BranchType ordinal of 9, say). */
  INVALID_ENUM: 'INVALID_ENUM',
  /** A string field is not valid UTF-8. */
  INVALID_UTF8: 'INVALID_UTF8',
  /** A message cannot be encoded: a string too long for its length field, a wrong field type. */
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  /** The message type cannot appear where it was found (a merge inside a merge, a body on a heartbeat). */
  UNEXPECTED_MESSAGE: 'UNEXPECTED_MESSAGE',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** A frame or body that breaks Seata RPC v1. The connection it came from cannot be trusted further. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ProtocolErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.code = code;
    this.details = details;
  }
}
