/**
 * The XID context: one AsyncLocalStorage kept under a `Symbol.for` key on globalThis, so two
 * copies of this package in one process share it (Seata's RootContext, in Node terms).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What travels with the async flow of a global transaction. */
export interface TxContext {
  xid: string;
}

const KEY = Symbol.for('dtx.context.storage');
type Holder = { [KEY]?: AsyncLocalStorage<TxContext | null> };

/** The shared storage. */
export function contextStorage(): AsyncLocalStorage<TxContext | null> {
  const g = globalThis as Holder;
  g[KEY] ??= new AsyncLocalStorage<TxContext | null>();
  return g[KEY];
}

/** The XID bound to the current async flow, or null. */
export function getXid(): string | null {
  return contextStorage().getStore()?.xid ?? null;
}

/** True when the current flow runs inside a global transaction. */
export function inGlobalTransaction(): boolean {
  return getXid() !== null;
}

/** Runs `fn` with `xid` bound (null: with no transaction bound, i.e. suspended). */
export function runWithXid<T>(xid: string | null, fn: () => T): T {
  return contextStorage().run(xid ? { xid } : null, fn);
}

/** The HTTP header and RPC attachment key the XID travels in (RootContext.KEY_XID). */
export const XID_HEADER = 'TX_XID';
