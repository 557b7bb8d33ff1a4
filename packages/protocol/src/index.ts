/**
 * @dtx/protocol: Seata RPC protocol v1. Bytes in, typed messages out; no I/O.
 */

export { type CodecOptions, decodeBody, encodeBody } from './body-codec.js';
export { ByteReader, ByteWriter } from './byte-io.js';
export { compress, decompress, isCompressorSupported } from './compressor.js';
export {
  BranchStatus,
  BranchType,
  Codec,
  Compressor,
  FrameType,
  GlobalStatus,
  MAGIC,
  MAX_FRAME_LENGTH,
  nameOf,
  PROTOCOL_VERSION,
  ResultCode,
  TypeCode,
  V1_HEAD_LENGTH,
} from './constants.js';
export { ProtocolError, ProtocolErrorCode } from './errors.js';
export {
  dialectForVersion,
  EXCEPTION_CODE_ORDINALS,
  type ExceptionCodeDialect,
  exceptionCodeFromWire,
  exceptionCodeToWire,
  isVersionAtLeast,
  type TransactionExceptionCode,
} from './exception-code.js';
export {
  decodeFrame,
  encodeFrame,
  encodeFrameInto,
  type FrameOptions,
  type HeadMap,
  type RpcMessage,
} from './frame.js';
export { FrameDecoder } from './frame-decoder.js';
export type {
  BatchResultMessage,
  BranchCommitRequest,
  BranchCommitResponse,
  BranchRegisterRequest,
  BranchRegisterResponse,
  BranchReportRequest,
  BranchReportResponse,
  BranchRollbackRequest,
  BranchRollbackResponse,
  GlobalBeginRequest,
  GlobalBeginResponse,
  GlobalCommitRequest,
  GlobalCommitResponse,
  GlobalLockQueryRequest,
  GlobalLockQueryResponse,
  GlobalReportRequest,
  GlobalReportResponse,
  GlobalRollbackRequest,
  GlobalRollbackResponse,
  GlobalStatusRequest,
  GlobalStatusResponse,
  MergedWarpMessage,
  MergeResultMessage,
  Message,
  MessageOf,
  RegisterRMRequest,
  RegisterRMResponse,
  RegisterTMRequest,
  RegisterTMResponse,
  SingleMessage,
  TcRequest,
  TcResponse,
  TransactionResult,
  UndoLogDeleteRequest,
} from './messages.js';
