/**
 * @dtx/remoting: the Getty layer. Sessions over TCP/TLS, framing, heartbeats, coalesced writes,
 * request futures, merged-message batching, handler dispatch off the read path, and TC routing.
 */

export {
  Client,
  type ClientListener,
  type ClientOptions,
  DEFAULT_CLIENT_OPTIONS,
  parseClientOptions,
} from './client.js';
export { Dispatcher, type DispatcherOptions, type Task } from './dispatcher.js';
export {
  createLoadBalancer,
  type LoadBalancer,
  type LoadBalanceType,
  random,
  roundRobin,
  xid,
} from './load-balance.js';
export {
  DEFAULT_SESSION_OPTIONS,
  parseSessionOptions,
  type SessionOptions,
} from './options.js';
export { DEFAULT_SERVER_OPTIONS, parseServerOptions, Server, type ServerOptions } from './server.js';
export {
  type RequestOptions,
  type ResponseCallback,
  Session,
  type SessionListener,
  type SessionRole,
} from './session.js';
