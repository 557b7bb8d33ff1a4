import { getDefaultClient } from './dtx-client.js';
import { type GlobalTransactionOptions, runGlobalTransaction } from './tm/transactional.js';

/**
 * Runs `fn` in a global transaction of the process's default DtxClient: begin, run with the XID
 * bound, commit if it returns, roll back (and rethrow) if it throws.
 */
export function globalTransaction<T, L = unknown>(
  fn: (local: L) => Promise<T> | T,
  options?: GlobalTransactionOptions<L>,
): Promise<T> {
  return runGlobalTransaction(getDefaultClient(), fn, options);
}
