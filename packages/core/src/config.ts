/**
 * Seata-style configuration (`service.vgroupMapping.default_tx_group`, `transport.heartbeat`)
 * from up to three layers, highest precedence first:
 *
 *   1. environment variables, passed in as an object (`DTX_TRANSPORT_HEARTBEAT=false`);
 *   2. a YAML file;
 *   3. a plain object.
 *
 * The environment is never read here: callers pass `process.env` (or a test's object) in.
 * Typed getters name the key, and where its value came from, in every error.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { KNOWN_CONFIG_KEYS } from './config-keys.js';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';

/** What a ConfigSource loads. Every layer is optional. */
export interface ConfigSourceInput {
  /**
   * The lowest layer: nested (`{ service: { vgroupMapping: { my_group: 'default' } } }`), flat
   * dotted (`{ 'service.default.grouplist': '127.0.0.1:8091' }`), or a mix.
   */
  object?: Record<string, unknown>;
  /**
   * Path of a YAML file, nested or flat, or in Seata's Spring Boot form under a top-level
   * `seata:` key with kebab-case names. Overrides `object`.
   */
  file?: string;
  /**
   * Environment variables; only `DTX_`-prefixed ones are read. Overrides `file` and `object`.
   * Pass `process.env` explicitly.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Further keys environment variables may name, besides KNOWN_CONFIG_KEYS and the keys set in `object` or `file`. */
  knownKeys?: Iterable<string>;
}

/** A scalar config value as loaded; lists are kept as their comma-joined text. */
type ConfigValue = string | number | boolean;

interface Entry {
  value: ConfigValue;
  /** Where the value came from, for error messages: 'object', 'file x.yml', 'environment variable DTX_X'. */
  origin: string;
}

const ENV_PREFIX = 'DTX_';
const VGROUP_ENV_PREFIX = 'SERVICE_VGROUPMAPPING_';
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

/**
 * Configuration loaded from an object, a YAML file and the environment (that order of rising
 * precedence), with keys normalised to Seata's camelCase names.
 */
export class ConfigSource {
  readonly #entries = new Map<string, Entry>();
  /** `DTX_` variables that named no known key; a caller may warn about them. */
  readonly unmatchedEnv: readonly string[];

  constructor(input: ConfigSourceInput = {}) {
    if (input.object !== undefined) flatten(input.object, '', 'object', this.#entries);
    if (input.file !== undefined) flatten(readYaml(input.file), '', `file ${input.file}`, this.#entries);
    this.unmatchedEnv = input.env === undefined ? [] : this.#loadEnv(input.env, input.knownKeys ?? []);
  }

  /** True when `key` has a value. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** The keys equal to `prefix` or under `prefix.`, sorted; every key when `prefix` is omitted or ''. */
  keys(prefix = ''): string[] {
    const under = `${prefix}.`;
    return [...this.#entries.keys()]
      .filter((k) => prefix === '' || k === prefix || k.startsWith(under))
      .sort();
  }

  /** The value of `key` as a string, or `defaultValue` when unset. */
  getString(key: string): string | undefined;
  getString(key: string, defaultValue: string): string;
  getString(key: string, defaultValue?: string): string | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined ? defaultValue : String(entry.value);
  }

  /** The value of `key` as a finite number, or `defaultValue` when unset. Throws ConfigError if it is not one. */
  getNumber(key: string): number | undefined;
  getNumber(key: string, defaultValue: number): number;
  getNumber(key: string, defaultValue?: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return defaultValue;
    const n = toNumber(entry.value);
    if (n === undefined) throw invalid(key, entry, 'a number');
    return n;
  }

  /** The value of `key` as a safe integer, or `defaultValue` when unset. Throws ConfigError if it is not one. */
  getInteger(key: string): number | undefined;
  getInteger(key: string, defaultValue: number): number;
  getInteger(key: string, defaultValue?: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return defaultValue;
    const n = toNumber(entry.value);
    if (n === undefined || !Number.isSafeInteger(n)) throw invalid(key, entry, 'an integer');
    return n;
  }

  /**
   * The value of `key` as a boolean (`true`/`false`, or the strings 'true'/'false' in any case),
   * or `defaultValue` when unset. Throws ConfigError for anything else, where Seata's
   * Boolean.parseBoolean would quietly read it as false.
   */
  getBoolean(key: string): boolean | undefined;
  getBoolean(key: string, defaultValue: boolean): boolean;
  getBoolean(key: string, defaultValue?: boolean): boolean | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return defaultValue;
    const { value } = entry;
    if (typeof value === 'boolean') return value;
    const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw invalid(key, entry, 'true or false');
  }

  /**
   * The value of `key` as a duration in ms, or `defaultValue` when unset. A number is ms; a
   * string may carry a unit: '500ms', '15s', '5m', '1h', '1d'. Throws ConfigError otherwise.
   */
  getDuration(key: string): number | undefined;
  getDuration(key: string, defaultValue: number): number;
  getDuration(key: string, defaultValue?: number): number | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return defaultValue;
    const ms = parseDuration(entry.value);
    if (ms === undefined)
      throw invalid(key, entry, "a duration (ms, or a string like '500ms', '15s', '1h', '1d')");
    return ms;
  }

  /** The value of `key` split on ',' and ';', items trimmed and empty ones dropped; `defaultValue` when unset. */
  getList(key: string): string[] | undefined;
  getList(key: string, defaultValue: readonly string[]): string[];
  getList(key: string, defaultValue?: readonly string[]): string[] | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return defaultValue === undefined ? undefined : [...defaultValue];
    return String(entry.value)
      .split(/[,;]/)
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }

  /** Sets the keys the `DTX_` variables name; returns the variables that named none. */
  #loadEnv(env: Readonly<Record<string, string | undefined>>, extraKeys: Iterable<string>): string[] {
    const byEnvName = new Map<string, string>();
    for (const key of [...this.#entries.keys(), ...KNOWN_CONFIG_KEYS, ...extraKeys]) {
      const name = envNameOf(key);
      if (!byEnvName.has(name)) byEnvName.set(name, key);
    }
    const unmatched: string[] = [];
    for (const [name, value] of Object.entries(env)) {
      const upper = name.toUpperCase();
      if (value === undefined || !upper.startsWith(ENV_PREFIX)) continue;
      const key = envKey(upper.slice(ENV_PREFIX.length), byEnvName);
      if (key === undefined) unmatched.push(name);
      else this.#entries.set(key, { value, origin: `environment variable ${name}` });
    }
    return unmatched;
  }
}

/**
 * The key an environment variable name (upper-cased, `DTX_` removed) stands for: a known key
 * first (so a key set in the file keeps its case), then the map forms
 * `SERVICE_VGROUPMAPPING_<GROUP>` and `SERVICE_<CLUSTER>_GROUPLIST` with the name lower-cased.
 */
function envKey(rest: string, byEnvName: ReadonlyMap<string, string>): string | undefined {
  const known = byEnvName.get(rest);
  if (known !== undefined) return known;
  if (rest.startsWith(VGROUP_ENV_PREFIX) && rest.length > VGROUP_ENV_PREFIX.length) {
    return `service.vgroupMapping.${rest.slice(VGROUP_ENV_PREFIX.length).toLowerCase()}`;
  }
  const cluster = /^SERVICE_(.+)_GROUPLIST$/.exec(rest)?.[1];
  return cluster === undefined ? undefined : `service.${cluster.toLowerCase()}.grouplist`;
}

/** `transport.enableClientBatchSendRequest` → `TRANSPORT_ENABLECLIENTBATCHSENDREQUEST` (without `DTX_`). */
function envNameOf(key: string): string {
  return key.replace(/[.-]/g, '_').toUpperCase();
}

/**
 * Seata's name for a loaded key path: drops a Spring Boot `seata.` root, camel-cases kebab-case
 * segments (`vgroup-mapping` → `vgroupMapping`) but not the group and cluster names inside the
 * two maps, and moves `service.grouplist.<cluster>` (Spring Boot and seata-go) to Seata's
 * `service.<cluster>.grouplist`.
 */
function normaliseKey(path: string): string {
  let segments = path.split('.');
  if (segments[0] === 'seata' && segments.length > 1) segments = segments.slice(1);
  const [root, second, third] = segments;
  if (root === 'service' && second !== undefined) {
    const name = camelCase(second);
    if (name === 'vgroupMapping') return ['service', name, ...segments.slice(2)].join('.');
    if (name === 'grouplist' && segments.length === 3) return `service.${third}.grouplist`;
    if (third === 'grouplist' && segments.length === 3) return `service.${second}.grouplist`;
  }
  return segments.map(camelCase).join('.');
}

function camelCase(segment: string): string {
  return segment.replace(/-([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Adds the leaves of `value` under `path` to `out`, keys normalised; later layers overwrite earlier ones. */
function flatten(value: unknown, path: string, origin: string, out: Map<string, Entry>): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    if (path === '') throw new ConfigError('', `the configuration from ${origin} must be a mapping of keys`);
    out.set(normaliseKey(path), { value, origin });
    return;
  }
  if (typeof value === 'bigint') {
    out.set(normaliseKey(path), { value: String(value), origin });
    return;
  }
  if (Array.isArray(value)) {
    // A YAML list (`grouplist: [a:8091, b:8091]`) reads as the comma-joined text getList splits.
    if (path === '' || !value.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
      throw new ConfigError(path, `${path} (from ${origin}) must be a value or a list of values`);
    }
    out.set(normaliseKey(path), { value: value.join(','), origin });
    return;
  }
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path === '' ? k : `${path}.${k}`, origin, out);
    return;
  }
  throw new ConfigError(path, `${path} (from ${origin}) has an unsupported value of type ${typeof value}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('file', `cannot read config file ${file}`, { cause: err, details: { file } });
  }
  try {
    return parseYaml(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError('file', `config file ${file} is not valid YAML: ${reason}`, {
      cause: err,
      details: { file },
    });
  }
}

function toNumber(value: ConfigValue): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && NUMBER.test(value.trim())) return Number(value.trim());
  return undefined;
}

function invalid(key: string, entry: Entry, expected: string): ConfigError {
  return new ConfigError(
    key,
    `${key} (from ${entry.origin}) must be ${expected}, got ${JSON.stringify(entry.value)}`,
    { details: { value: entry.value, origin: entry.origin } },
  );
}
