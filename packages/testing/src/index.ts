/**
 * @dtx/testing (private): test peers that speak the real protocol on a real socket, with fault
 * switches.
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
export { type LoadOptions, type LoadResult, runLoad } from './load-generator.js';
export {
  type ConformanceBranch,
  type ConformanceGlobal,
  type ConformanceLockManager,
  type ConformanceOp,
  type ConformanceStore,
  describeLockManagerConformance,
  describeStoreConformance,
  type LockFixture,
  type StoreFixture,
} from './store-conformance.js';
export { WirePeer, type WireRequestHandler } from './wire-peer.js';
