/**
 * @dtx/protocol: Seata RPC protocol v1. Bytes in, typed messages out; no I/O.
 */
export {
  MAGIC,
  PROTOCOL_VERSION,
  V1_HEAD_LENGTH,
  MAX_FRAME_LENGTH,
  FrameType,
  Codec,
  Compressor,
  TypeCode,
  BranchType,
  BranchStatus,
  GlobalStatus,
  ResultCode,
  nameOf,
} from './constants.js';
export {
  type TransactionExceptionCode,
  type ExceptionCodeDialect,
  EXCEPTION_CODE_ORDINALS,
  exceptionCodeToWire,
  exceptionCodeFromWire,
  dialectForVersion,
  isVersionAtLeast,
} from './exception-code.js';
export { ProtocolError, ProtocolErrorCode } from './errors.js';
export type {
  TransactionResult,
  GlobalBeginRequest,
  GlobalBeginResponse,
  GlobalCommitRequest,
  GlobalCommitResponse,
  GlobalRollbackRequest,
  GlobalRollbackResponse,
  GlobalStatusRequest,
  GlobalStatusResponse,
  GlobalReportRequest,
  GlobalReportResponse,
  BranchRegisterRequest,
  BranchRegisterResponse,
  BranchReportRequest,
  BranchReportResponse,
  GlobalLockQueryRequest,
  GlobalLockQueryResponse,
  BranchCommitRequest,
  BranchCommitResponse,
  BranchRollbackRequest,
  BranchRollbackResponse,
  RegisterTMRequest,
  RegisterTMResponse,
  RegisterRMRequest,
  RegisterRMResponse,
  UndoLogDeleteRequest,
  MergedWarpMessage,
  MergeResultMessage,
  BatchResultMessage,
  TcRequest,
  TcResponse,
  SingleMessage,
  Message,
  MessageOf,
} from './messages.js';
export { type CodecOptions, encodeBody, decodeBody } from './body-codec.js';
export { compress, decompress, isCompressorSupported } from './compressor.js';
export { type HeadMap, type RpcMessage, type FrameOptions, encodeFrame, decodeFrame } from './frame.js';
export { FrameDecoder } from './frame-decoder.js';
