/**
 * @dtx/testing (private): test peers that speak the real protocol on a real socket, with fault
 * switches; the store conformance suites; and the generic pieces every suite needs: bounded
 * waits, free ports and a real `dtx server` child process.
 */

export {
  type BranchSpec,
  FakeRm,
  type FakeRmOptions,
  type PhaseTwoCall,
  type PhaseTwoKind,
  type PhaseTwoReply,
  RegistrationRefusedError,
  type ReportSpec,
} from './fake-rm.js';
export { type Direction, type FaultDirection, FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
export { freePort } from './free-port.js';
export { type LoadOptions, type LoadResult, runLoad } from './load-generator.js';
export {
  describeLockManagerConformance,
  describeStoreConformance,
  type LockFixture,
  type StoreFixture,
} from './store-conformance.js';
export {
  DTX_CLI,
  type DtxServerOptions,
  type DtxServerProcess,
  FAST_RECOVERY_ENV,
  spawnDtxServer,
  TC_NODE_FLAGS,
} from './tc-process.js';
export {
  type BoundedWaits,
  boundedWaits,
  DEFAULT_POLL_MS,
  DEFAULT_WAIT_MS,
  sleep,
  until,
  within,
} from './waits.js';
export { WirePeer, type WireRequestHandler } from './wire-peer.js';
