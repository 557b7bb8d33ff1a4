/**
 * Options shared by every session, server and client endpoint. Seata's key for each setting is
 * named where one exists, so a user can find it.
 */
import { bool, integerIn, type Logger, noopLogger, parseOptions, positiveMs } from '@dtx/core';
import { MAX_FRAME_LENGTH } from '@dtx/protocol';

/** Per-session behaviour. */
export interface SessionOptions {
  /**
   * Send PING after this long without writing (client sessions only; `transport.heartbeat`).
   * @default 5000 (NettyBaseConfig.DEFAULT_WRITE_IDLE_SECONDS)
   */
  writeIdleMs: number;
  /**
   * Close a session after this long without reading anything (3 × write idle, as Seata).
   * @default 15000
   */
  readIdleMs: number;
  /**
   * Send heartbeats at all (`transport.heartbeat`).
   * @default true
   */
  heartbeat: boolean;
  /**
   * Default timeout of a request's future (`transport.rpcTcRequestTimeout` and friends).
   * @default 30000
   */
  requestTimeoutMs: number;
  /**
   * Largest frame read or written.
   * @default 8 MiB
   */
  maxFrameLength: number;
  /**
   * Handlers in flight per session.
   * @default 256
   */
  handlerConcurrency: number;
  /**
   * Requests queued for a handler before the session stops reading its socket.
   * @default 4096
   */
  handlerQueueHighWaterMark: number;
  /**
   * Outbound bytes (queued + in the socket) past which reading pauses and new requests wait.
   * @default 4 MiB
   */
  outboundHighWaterMark: number;
  /**
   * Outbound bytes past which a send fails with BackPressureError instead of queueing.
   * @default 64 MiB
   */
  outboundMaxBytes: number;
  /**
   * Requests whose futures are open at once on one session; past it, `request` fails with LimitError.
   * @default 65536
   */
  maxPendingRequests: number;
  /**
   * Client side: wrap concurrent requests into MergedWarpMessage frames
   * (`transport.enableClientBatchSendRequest`; Seata's RM default is true, TM false).
   * @default false
   */
  batchRequests: boolean;
  /**
   * Most messages in one MergedWarpMessage.
   * @default 256
   */
  maxBatchMessages: number;
  /**
   * Server side: answer merged requests with BatchResultMessage for peers at 1.5.0 or later
   * (`transport.enableTcServerBatchSendResponse`).
   * @default false
   */
  batchResponses: boolean;
  /** Where diagnostics go. @default noopLogger */
  logger: Logger;
}

/** Defaults of SessionOptions. */
export const DEFAULT_SESSION_OPTIONS: Readonly<SessionOptions> = Object.freeze({
  writeIdleMs: 5000,
  readIdleMs: 15000,
  heartbeat: true,
  requestTimeoutMs: 30000,
  maxFrameLength: MAX_FRAME_LENGTH,
  handlerConcurrency: 256,
  handlerQueueHighWaterMark: 4096,
  outboundHighWaterMark: 4 * 1024 * 1024,
  outboundMaxBytes: 64 * 1024 * 1024,
  maxPendingRequests: 65536,
  batchRequests: false,
  maxBatchMessages: 256,
  batchResponses: false,
  logger: noopLogger,
});

/** Validators for SessionOptions, reused by the endpoint options that extend it. */
export const SESSION_OPTION_VALIDATORS = {
  writeIdleMs: positiveMs(),
  readIdleMs: positiveMs(),
  heartbeat: bool(),
  requestTimeoutMs: positiveMs(),
  maxFrameLength: integerIn(64, MAX_FRAME_LENGTH),
  handlerConcurrency: integerIn(1, 1_000_000),
  handlerQueueHighWaterMark: integerIn(1, 10_000_000),
  outboundHighWaterMark: integerIn(1024, 2 ** 40),
  outboundMaxBytes: integerIn(1024, 2 ** 40),
  maxPendingRequests: integerIn(1, 10_000_000),
  batchRequests: bool(),
  maxBatchMessages: integerIn(1, 0x7fff),
  batchResponses: bool(),
  logger: (v: unknown) => v as Logger,
};

/** Merges and validates session options, naming the bad key (`remoting.<key>`). */
export function parseSessionOptions(input?: Partial<SessionOptions>): SessionOptions {
  return parseOptions(DEFAULT_SESSION_OPTIONS, input, SESSION_OPTION_VALIDATORS, 'remoting');
}
