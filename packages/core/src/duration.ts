/**
 * Durations in config and options: a number is ms (Seata's keys are all ms, and its sentinel -1
 * means "forever"), a string is a decimal with an optional unit: '500ms', '15s', '5m', '1h',
 * '1d', or plain '30000' (ms).
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i;

/** The duration `value` in ms, or undefined if it is not a finite number or a duration string. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2]?.toLowerCase();
  // A sign only makes sense on a bare ms count (the -1 sentinel), not on '-5s'.
  if (amount < 0 && unit !== undefined) return undefined;
  return amount * (unit === undefined ? 1 : (UNIT_MS[unit] as number));
}
