/**
 * XID propagation over HTTP in the `TX_XID` header: middleware for express, koa and fastify that
 * binds an incoming XID for the request, and outbound `fetch` calls that carry the current one.
 */
import { getXid, runWithXid, XID_HEADER } from '../context.js';

const HEADER_LC = XID_HEADER.toLowerCase();

/** The XID in a Node header object (any case), or null. */
export function xidFromHeaders(
  headers: Record<string, string | string[] | undefined> | Headers,
): string | null {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(XID_HEADER) || null;
  const h = headers as Record<string, string | string[] | undefined>;
  const v = h[HEADER_LC] ?? h[XID_HEADER];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.length > 0 ? s : null;
}

/** Headers to add to an outbound call in the current transaction (empty outside one). */
export function xidHeaders(): Record<string, string> {
  const xid = getXid();
  return xid ? { [XID_HEADER]: xid } : {};
}

/** Express (and connect) middleware: binds the request's `TX_XID` for everything it runs. */
export function expressXid() {
  return (
    req: { headers: Record<string, string | string[] | undefined> },
    _res: unknown,
    next: (err?: unknown) => void,
  ): void => {
    const xid = xidFromHeaders(req.headers);
    if (xid) runWithXid(xid, next);
    else next();
  };
}

/** Koa middleware: binds the request's `TX_XID` for the downstream middleware. */
export function koaXid() {
  return (ctx: { get(name: string): string }, next: () => Promise<unknown>): Promise<unknown> => {
    const xid = ctx.get(XID_HEADER);
    return xid ? runWithXid(xid, next) : next();
  };
}

/**
 * A fastify route handler as this plugin sees it. Its `this` and parameters are `never` so that
 * fastify's own RouteHandlerMethod (typed with FastifyInstance, FastifyRequest, FastifyReply)
 * fits, and `app.register(fastifyXid)` type-checks against the real fastify types.
 */
type FastifyHandler = (this: never, req: never, reply: never) => unknown;
interface FastifyLike {
  addHook(name: 'onRoute', hook: (route: { handler: FastifyHandler }) => void): unknown;
}
type NodeHeaders = Record<string, string | string[] | undefined>;

/**
 * Fastify plugin: wraps every route registered after it so its handler runs with the request's
 * `TX_XID` bound. Register it before the routes (it does not encapsulate).
 */
export function fastifyXid(fastify: FastifyLike, _options: unknown, done: (err?: Error) => void): void {
  fastify.addHook('onRoute', (route) => {
    const handler = route.handler;
    route.handler = function (this: never, req: never, reply: never) {
      const xid = xidFromHeaders((req as { headers: NodeHeaders }).headers);
      return xid ? runWithXid(xid, () => handler.call(this, req, reply)) : handler.call(this, req, reply);
    };
  });
  done();
}
(fastifyXid as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

let originalFetch: typeof fetch | null = null;

/** Patches `globalThis.fetch` so calls made inside a global transaction carry `TX_XID`. Idempotent; returns an undo. */
export function installFetchPropagation(): () => void {
  if (!originalFetch) {
    const base = globalThis.fetch;
    originalFetch = base;
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const xid = getXid();
      if (!xid) return base(input, init);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      if (!headers.has(XID_HEADER)) headers.set(XID_HEADER, xid);
      return base(input, { ...init, headers });
    }) as typeof fetch;
  }
  return () => {
    if (originalFetch) globalThis.fetch = originalFetch;
    originalFetch = null;
  };
}
