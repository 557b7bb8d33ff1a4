/**
 * Loads a database driver on first use. A file-store TC never touches pg, mysql2 or redis, and
 * importing them up front costs it tens of megabytes of resident memory; all three ship CommonJS,
 * so a synchronous require at connect time keeps the stores' constructors synchronous.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cache = new Map<string, unknown>();

/** The module `name`, required once. */
export function lazyRequire<T>(name: string): T {
  let m = cache.get(name);
  if (m === undefined) {
    m = require(name);
    cache.set(name, m);
  }
  return m as T;
}
