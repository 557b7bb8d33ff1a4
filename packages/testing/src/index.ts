/**
 * @dtx/testing (private): test peers that speak the real protocol on a real socket, with fault
 * switches.
 */
export { type Direction, type FaultDirection, FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
export { WirePeer, type WireRequestHandler } from './wire-peer.js';
export { runLoad, type LoadOptions, type LoadResult } from './load-generator.js';
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
export {
  describeStoreConformance,
  describeLockManagerConformance,
  type StoreFixture,
  type LockFixture,
  type ConformanceLockManager,
  type ConformanceStore,
  type ConformanceGlobal,
  type ConformanceBranch,
  type ConformanceOp,
} from './store-conformance.js';
