/**
 * The options pattern every dtx package follows (STYLE rule 6): one interface with `@default`
 * per field, one `DEFAULT_X_OPTIONS` object, and one `parseXOptions()` built on `parseOptions`:
 *
 *   export const DEFAULT_CLIENT_OPTIONS: ClientOptions = { heartbeatMs: 5000, loadBalance: 'XID' };
 *   export function parseClientOptions(input?: Partial<ClientOptions>): ClientOptions {
 *     return parseOptions(DEFAULT_CLIENT_OPTIONS, input, {
 *       heartbeatMs: positiveMs(),
 *       loadBalance: oneOf('XID', 'Random', 'RoundRobin'),
 *     }, 'remoting.client');
 *   }
 */
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';

/** Checks and converts one option value; throws ConfigError naming `key` (the full dotted path). */
export type Validator<V> = (value: unknown, key: string) => V;

/** A validator per option; options without one must have the type of their default. */
export type Validators<T> = { [K in keyof T]?: Validator<T[K]> };

/**
 * `defaults` overlaid with the defined fields of `input`, each checked by its validator (or,
 * without one, against the type of its default). Unknown keys and bad values throw ConfigError
 * naming `prefix.key`. `undefined` fields keep their default.
 */
export function parseOptions<T extends object>(
  defaults: T,
  input: Partial<T> | undefined,
  validators: Validators<T>,
  prefix: string,
): T {
  const result = { ...defaults };
  if (input === undefined || input === null) return result;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(prefix, `${prefix} must be an object of options, got ${describe(input)}`);
  }
  for (const [name, value] of Object.entries(input)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (!Object.hasOwn(defaults, name)) {
      const known = Object.keys(defaults).join(', ');
      throw new ConfigError(key, `${key} is not an option (known: ${known})`, { details: { value } });
    }
    if (value === undefined) continue;
    const field = name as keyof T;
    const validate = validators[field];
    if (validate !== undefined) {
      result[field] = validate(value, key);
      continue;
    }
    const expected = defaults[field];
    if (expected !== undefined && expected !== null && typeof value !== typeof expected) {
      throw invalid(key, `a ${typeof expected}`, value);
    }
    result[field] = value as T[keyof T];
  }
  return result;
}

/** An integer in `min..max` inclusive. */
export function integerIn(min: number, max: number): Validator<number> {
  return (value, key) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(key, `an integer in ${min}..${max}`, value);
    }
    return value;
  };
}

/** A duration above 0 in ms: a number, or a string such as '500ms', '15s', '1h', '1d'. */
export function positiveMs(): Validator<number> {
  return (value, key) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0)
      throw invalid(key, "a duration above 0 (ms, or a string like '15s')", value);
    return ms;
  };
}

/** One of `values` (compared with ===). */
export function oneOf<const V extends readonly (string | number | boolean)[]>(
  ...values: V
): Validator<V[number]> {
  return (value, key) => {
    if (!values.includes(value as V[number])) {
      throw invalid(key, `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`, value);
    }
    return value as V[number];
  };
}

/** A boolean (not a truthy value). */
export function bool(): Validator<boolean> {
  return (value, key) => {
    if (typeof value !== 'boolean') throw invalid(key, 'true or false', value);
    return value;
  };
}

/** A non-empty string. */
export function str(): Validator<string> {
  return (value, key) => {
    if (typeof value !== 'string' || value === '') throw invalid(key, 'a non-empty string', value);
    return value;
  };
}

function invalid(key: string, expected: string, value: unknown): ConfigError {
  return new ConfigError(key, `${key} must be ${expected}, got ${describe(value)}`, { details: { value } });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' || typeof value === 'function' ? `a ${typeof value}` : String(value);
}
