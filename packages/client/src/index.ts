/**
 * @dtx/client: global transactions (TM) and TCC participants (RM) for Node, speaking Seata's
 * protocol to any Seata-compatible TC.
 */

export {
  contextStorage,
  getXid,
  inGlobalTransaction,
  runWithXid,
  type TxContext,
  XID_HEADER,
} from './context.js';
export {
  type BranchEndRequest,
  DtxClient,
  getDefaultClient,
  type ResourceHandler,
  setDefaultClient,
} from './dtx-client.js';
export { globalTransaction } from './global-transaction-fn.js';
export {
  expressXid,
  fastifyXid,
  installFetchPropagation,
  koaXid,
  xidFromHeaders,
  xidHeaders,
} from './integration/http.js';
export {
  clientOptionsFromConfig,
  DEFAULT_CLIENT_OPTIONS,
  type DtxClientOptions,
  parseClientOptions,
} from './options.js';
export { TwoPhaseBusinessAction, type TwoPhaseBusinessActionOptions } from './tcc/decorator.js';
export { mysqlFenceDatabase, pgFenceDatabase } from './tcc/fence/fence-databases.js';
export {
  DEFAULT_FENCE_OPTIONS,
  type FenceAlert,
  type FenceDatabase,
  FenceStatus,
  fenceTableDdl,
  TccFence,
  type TccFenceOptions,
} from './tcc/fence/tcc-fence.js';
export {
  type BusinessActionContext,
  defineTccAction,
  NonRetryableError,
  type PhaseTwoContext,
  parseActionContext,
  plainContext,
  type TccAction,
  type TccActionDefinition,
  type TryContext,
} from './tcc/tcc-action.js';
export { GlobalReport, GlobalTransaction, type GlobalTransactionRole } from './tm/global-transaction.js';
export {
  type LocalTransaction,
  type MysqlConnectionLike,
  type MysqlPoolLike,
  mysqlLocalTransaction,
  type PgClientLike,
  type PgPoolLike,
  pgLocalTransaction,
} from './tm/local-transaction.js';
export {
  type GlobalTransactionOptions,
  Propagation,
  registerTransactionHooks,
  runGlobalTransaction,
  type TransactionHooks,
} from './tm/transactional.js';
