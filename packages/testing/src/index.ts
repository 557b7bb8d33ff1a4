/**
 * @dtx/testing (private): test peers that speak the real protocol on a real socket, with fault
 * switches.
 */
export { type Direction, type FaultDirection, FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
