/**
 * @dtx/remoting: the Getty layer. Sessions over TCP/TLS, framing, heartbeats, coalesced writes,
 * request futures, merged-message batching, handler dispatch off the read path, and TC routing.
 */
export {
  type SessionOptions,
  DEFAULT_SESSION_OPTIONS,
  parseSessionOptions,
} from './options.js';
export { Session, type SessionListener, type SessionRole, type RequestOptions } from './session.js';
export { Server, type ServerOptions, DEFAULT_SERVER_OPTIONS, parseServerOptions } from './server.js';
export {
  Client,
  type ClientOptions,
  type ClientListener,
  DEFAULT_CLIENT_OPTIONS,
  parseClientOptions,
} from './client.js';
export {
  type LoadBalanceType,
  type LoadBalancer,
  createLoadBalancer,
  roundRobin,
  random,
  xid,
} from './load-balance.js';
export { Dispatcher, type DispatcherOptions, type Task } from './dispatcher.js';
