/**
 * The XID, `<tcIp>:<tcPort>:<transactionId>` (J-common/XID.java). The IP and port are the TC's
 * advertised address, which clients route by; IPv6 addresses are written bare, so the id is
 * after the last ':' and the port after the one before it.
 */
import { XidError } from './errors.js';

/** The parts of an XID. */
export interface ParsedXid {
  /** The TC's IP (or host) as written in the XID; IPv6 without brackets. */
  ip: string;
  /** The TC's port. */
  port: number;
  /** `ip:port`, the XID's prefix: the TC address clients route the transaction's requests to. */
  address: string;
  /** The global transaction id. */
  transactionId: bigint;
}

const MAX_TRANSACTION_ID = (1n << 63n) - 1n;

/** The XID of transaction `transactionId` begun on the TC at `ip:port` (XID.generateXID). */
export function buildXid(ip: string, port: number, transactionId: bigint): string {
  return `${ip}:${port}:${transactionId}`;
}

/** The parts of `xid`. Throws XidError, naming what is wrong, when it is not `ip:port:transactionId`. */
export function parseXid(xid: string): ParsedXid {
  if (typeof xid !== 'string') throw new XidError(String(xid), `XID must be a string, got ${typeof xid}`);
  const last = xid.lastIndexOf(':');
  const before = last > 0 ? xid.lastIndexOf(':', last - 1) : -1;
  if (before <= 0) throw new XidError(xid, `XID ${JSON.stringify(xid)} is not ip:port:transactionId`);
  const idText = xid.slice(last + 1);
  if (!isDigits(xid, last + 1, xid.length) || idText.length > 19) {
    throw new XidError(xid, `XID ${JSON.stringify(xid)} has no valid transaction id after its last ':'`);
  }
  const transactionId = BigInt(idText);
  if (transactionId > MAX_TRANSACTION_ID) {
    throw new XidError(xid, `XID ${JSON.stringify(xid)} has a transaction id above 2^63-1`);
  }
  const port = parsePort(xid, before + 1, last);
  if (port < 0) {
    throw new XidError(
      xid,
      `XID ${JSON.stringify(xid)} has no valid port (1..65535) before the transaction id`,
    );
  }
  return { ip: xid.slice(0, before), port, address: xid.slice(0, last), transactionId };
}

/**
 * The `ip:port` prefix of `xid`, or null if it is malformed. Cheaper than `parseXid` (no
 * BigInt, no allocation besides the result) for routing a request to the TC that owns it.
 */
export function xidAddress(xid: string): string | null {
  const last = xid.lastIndexOf(':');
  if (last <= 0 || !isDigits(xid, last + 1, xid.length)) return null;
  const before = xid.lastIndexOf(':', last - 1);
  if (before <= 0 || parsePort(xid, before + 1, last) < 0) return null;
  return xid.slice(0, last);
}

/** The port in `text[start..end)`, or -1 unless it is 1..65535 in plain digits. */
function parsePort(text: string, start: number, end: number): number {
  if (end - start > 5 || !isDigits(text, start, end)) return -1;
  let port = 0;
  for (let i = start; i < end; i++) port = port * 10 + text.charCodeAt(i) - 48;
  return port >= 1 && port <= 65535 ? port : -1;
}

/** True when `text[start..end)` is one or more ASCII digits. */
function isDigits(text: string, start: number, end: number): boolean {
  if (start >= end) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
