/**
 * Seata's IdWorker (J-common/util/IdWorker.java), the generator of transaction and branch ids:
 *
 *   [1 sign bit 0][10-bit workerId][41-bit ms since 2020-05-02T16:00Z][12-bit sequence]
 *
 * Timestamp and sequence are one counter incremented together, so a sequence overflow carries
 * into the timestamp; the clock only seeds it. Seata sleeps 5 ms when the counter runs ahead of
 * wall time. Node cannot block, so `nextId()` never waits: it lets the counter run ahead (see
 * `aheadOfClockMs`) and moves it forward when the clock overtakes it.
 */
import { randomInt } from 'node:crypto';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { ConfigError } from './errors.js';

/** Seata's epoch for the id timestamp: 2020-05-02T16:00:00Z, in ms since the Unix epoch. */
export const ID_EPOCH_MS = 1588435200000;

const SEQUENCE_BITS = 12;
const SEQUENCE_SPAN = 2 ** SEQUENCE_BITS;
/** Timestamp (41 bits) + sequence (12 bits) = 53 bits: the counter is exact as a `number`. */
const WORKER_SHIFT = 53n;
const MAX_WORKER_ID = 1023;

/** Options of an IdWorker. */
export interface IdWorkerOptions {
  /**
   * The 10-bit worker id, 0..1023 (Seata's `--serverNode`). Two TCs sharing a store need
   * different ones.
   * @default the low 10 bits of the first non-internal MAC address, else random
   */
  workerId?: number;
  /**
   * The wall clock, in ms since the Unix epoch. Tests inject one.
   * @default Date.now
   */
  clock?: () => number;
}

/** The parts of an id, as `splitId` returns them. */
export interface IdParts {
  /** The generator's worker id, 0..1023. */
  workerId: number;
  /** The id's timestamp in ms since the Unix epoch (Seata's epoch added back). */
  timestamp: number;
  /** The 12-bit sequence within that millisecond, 0..4095. */
  sequence: number;
}

/** A snowflake id generator laid out like Seata's IdWorker; ids are positive 63-bit `bigint`s. */
export class IdWorker {
  /** The worker id in bits 53..62 of every id. */
  readonly workerId: number;
  readonly #clock: () => number;
  readonly #high: bigint;
  /** (ms since ID_EPOCH_MS) * 4096 + sequence of the last id issued. */
  #counter: number;

  constructor(options: IdWorkerOptions = {}) {
    const workerId = options.workerId ?? defaultWorkerId();
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID) {
      throw new ConfigError(
        'workerId',
        `workerId must be an integer in 0..${MAX_WORKER_ID}, got ${workerId}`,
        {
          details: { value: workerId },
        },
      );
    }
    this.workerId = workerId;
    this.#clock = options.clock ?? Date.now;
    this.#high = BigInt(workerId) << WORKER_SHIFT;
    this.#counter = this.#now() * SEQUENCE_SPAN;
  }

  /** The next id: strictly greater than every id this worker issued before. Never blocks. */
  nextId(): bigint {
    let next = this.#counter + 1;
    // Where Seata would sleep, move the counter up to the clock instead, so ids stay near
    // wall time after an idle period.
    const floor = this.#now() * SEQUENCE_SPAN;
    if (next < floor) next = floor;
    this.#counter = next;
    return this.#high | BigInt(next);
  }

  /**
   * How many ms the last id's timestamp is ahead of the clock: above 0 only when more than 4096
   * ids a millisecond were drawn (or the clock stepped back).
   */
  get aheadOfClockMs(): number {
    return Math.max(0, Math.floor(this.#counter / SEQUENCE_SPAN) - this.#now());
  }

  #now(): number {
    return Math.max(0, Math.floor(this.#clock()) - ID_EPOCH_MS);
  }
}

/** The worker id, timestamp and sequence of an id made by an IdWorker (or by Seata's). */
export function splitId(id: bigint): IdParts {
  return {
    workerId: Number((id >> WORKER_SHIFT) & 0x3ffn),
    timestamp: Number((id >> BigInt(SEQUENCE_BITS)) & 0x1ffffffffffn) + ID_EPOCH_MS,
    sequence: Number(id & 0xfffn),
  };
}

/**
 * The worker id Seata derives when none is configured: the low 10 bits of the first
 * non-internal interface's MAC (IdWorker.generateWorkerIdBaseOnMac), else a random one.
 */
export function defaultWorkerId(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): number {
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || !info.mac || info.mac === '00:00:00:00:00:00') continue;
      const bytes = info.mac.split(':').map((b) => Number.parseInt(b, 16));
      const b4 = bytes[4];
      const b5 = bytes[5];
      if (
        bytes.length !== 6 ||
        b4 === undefined ||
        b5 === undefined ||
        Number.isNaN(b4) ||
        Number.isNaN(b5)
      ) {
        continue;
      }
      return ((b4 & 0b11) << 8) | b5;
    }
  }
  return randomInt(MAX_WORKER_ID + 1);
}
