/**
 * dtx's `node:diagnostics_channel` channels, named `dtx:<area>:<operation>` (STYLE rule 7).
 * Any APM or test can subscribe with `diagnostics_channel.subscribe(Channels.TM_BEGIN, fn)`;
 * dtx publishes only when someone listens, so an unobserved process pays one property read.
 */
import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel';

/** Every channel dtx publishes on. Payloads are plain objects; ids are bigints, XIDs strings. */
export const Channels = {
  /** A connection was established (and, for clients, registered). */
  REMOTING_SESSION_OPEN: 'dtx:remoting:session-open',
  /** A connection closed, with the reason. */
  REMOTING_SESSION_CLOSE: 'dtx:remoting:session-close',
  /** An RPC request was sent or received. */
  REMOTING_REQUEST: 'dtx:remoting:request',
  /** An RPC response was sent or received, or a request timed out. */
  REMOTING_RESPONSE: 'dtx:remoting:response',
  /** A peer sent bytes that broke the protocol (a ProtocolError). */
  REMOTING_PROTOCOL_ERROR: 'dtx:remoting:protocol-error',
  /** The TM began a global transaction. */
  TM_BEGIN: 'dtx:tm:begin',
  /** The TM committed a global transaction (with the resulting status). */
  TM_COMMIT: 'dtx:tm:commit',
  /** The TM rolled back a global transaction (with the resulting status). */
  TM_ROLLBACK: 'dtx:tm:rollback',
  /** The RM registered a branch. */
  RM_BRANCH_REGISTER: 'dtx:rm:branch-register',
  /** The RM ran a phase-two commit or rollback for a branch. */
  RM_PHASE_TWO: 'dtx:rm:phase-two',
  /** The TCC fence saw a suspended, empty-rollback or repeated call. */
  TCC_FENCE_ALERT: 'dtx:tcc:fence-alert',
  /** The TC changed a global transaction's status. */
  TC_GLOBAL_STATUS: 'dtx:tc:global-status',
  /** The TC wrote to its session store. */
  STORE_WRITE: 'dtx:store:write',
} as const;
/** The name of one of dtx's channels. */
export type ChannelName = (typeof Channels)[keyof typeof Channels];

// Held here so the channels (and their subscribers) live as long as the module, whatever the
// runtime's weak channel cache does.
const channelByName = new Map<ChannelName, Channel>(
  Object.values(Channels).map((name) => [name, diagnosticsChannel.channel(name)]),
);

/**
 * The channel object itself, for a per-frame path: keep it in a constant and test
 * `channel.hasSubscribers` before building the payload (no lookup, no closure).
 */
export function channelOf(name: ChannelName): Channel {
  const channel = channelByName.get(name);
  if (channel === undefined) throw new TypeError(`unknown dtx channel ${JSON.stringify(name)}`);
  return channel;
}

/** True when someone subscribes to `channel`; check it before building an expensive payload. */
export function hasSubscribers(channel: ChannelName): boolean {
  return channelOf(channel).hasSubscribers;
}

/**
 * Publishes `payload` on `channel` if anyone subscribes. Pass a function to build the payload
 * only then: `publish(Channels.TM_BEGIN, () => ({ xid, timeout }))`. On a per-frame path, test
 * `hasSubscribers(channel)` first instead, which allocates nothing at all.
 */
export function publish(channel: ChannelName, payload: object | (() => object)): void {
  const c = channelOf(channel);
  if (!c.hasSubscribers) return;
  c.publish(typeof payload === 'function' ? payload() : payload);
}
