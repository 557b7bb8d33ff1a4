/**
 * Bounded waits for tests: every wait on something a test does not control (a socket, a child
 * process, a TC's recovery task) carries an upper bound and a name, so a broken component fails
 * the test with "timed out after N ms waiting for <what>" instead of hanging the run. Deadlines
 * are measured on the monotonic clock (`performance.now()`).
 *
 * A suite that wants another default bound makes its own pair once:
 * `export const { until, within } = boundedWaits(WAIT_MS)`.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as timersSetTimeout } from 'node:timers/promises';

/** Default bound of `until` and `within`, in milliseconds. */
export const DEFAULT_WAIT_MS = 5000;

/** How often `until` polls its condition by default, in milliseconds. */
export const DEFAULT_POLL_MS = 5;

/**
 * Resolves after `ms` milliseconds: `setTimeout` of `node:timers/promises`, with its optional
 * `value` and `{ signal, ref }` arguments.
 */
export const sleep: typeof timersSetTimeout = timersSetTimeout;

/**
 * Polls `condition` every `pollMs` until it holds, and fails (an AssertionError) naming `what`
 * once `timeoutMs` have passed without it holding. The condition is checked before the first
 * sleep, so one that already holds returns at once; a synchronous condition is read without an
 * extra await, an asynchronous one is awaited.
 *
 * @example await until(() => server.sessions.size === 1, 'the server to have one session');
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
  pollMs = DEFAULT_POLL_MS,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const held = condition();
    if (typeof held === 'boolean' ? held : await held) return;
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/**
 * `promise`'s outcome, or an Error naming `what` if it has not settled within `timeoutMs`. The
 * timer is cleared either way; `promise` itself is not cancelled.
 *
 * @example const r = await within(peer.request(body), 'GlobalBegin');
 */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `until` and `within` with a suite's own default bound (see `boundedWaits`). */
export interface BoundedWaits {
  /** `until` with this suite's default bound and poll period. */
  until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>;
  /** `within` with this suite's default bound. */
  within<T>(promise: Promise<T>, what: string, timeoutMs?: number): Promise<T>;
}

/**
 * `until` and `within` whose bound defaults to `defaultTimeoutMs` (and whose polling period is
 * `pollMs`), for a suite whose waits need a different default than DEFAULT_WAIT_MS.
 */
export function boundedWaits(defaultTimeoutMs: number, pollMs = DEFAULT_POLL_MS): BoundedWaits {
  return {
    until: (condition, what, timeoutMs = defaultTimeoutMs) => until(condition, what, timeoutMs, pollMs),
    within: (promise, what, timeoutMs = defaultTimeoutMs) => within(promise, what, timeoutMs),
  };
}
