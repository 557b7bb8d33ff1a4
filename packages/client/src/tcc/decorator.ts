/**
 * The decorator form of a TCC action (Seata's @TwoPhaseBusinessAction), as a TC39 method
 * decorator: the decorated method is the try; `commitMethod` and `rollbackMethod` name the
 * confirm and cancel methods of the same class. The action is defined when an instance is
 * constructed, on `client` or the process's default DtxClient.
 */
import { type DtxClient, getDefaultClient } from '../dtx-client.js';
import type { TccFence } from './fence/tcc-fence.js';
import { defineTccAction, type PhaseTwoContext, type TccAction, type TryContext } from './tcc-action.js';

/** Options of @TwoPhaseBusinessAction. */
export interface TwoPhaseBusinessActionOptions {
  name: string;
  /** @default 'commit' */
  commitMethod?: string;
  /** @default 'rollback' */
  rollbackMethod?: string;
  fence?: TccFence<unknown>;
  client?: DtxClient;
  contextOf?(args: unknown): Record<string, unknown>;
}

/**
 * A try method: it receives the TryContext of its own argument and transaction types (`never`
 * here so any `TryContext<A, Tx>` parameter fits, or none).
 */
type TryMethod<This> = (this: This, ctx: TryContext<never, never>) => unknown;

/**
 * Marks a method as the try of a TCC action; calling it takes the try's arguments. TypeScript
 * keeps the declared type of a decorated method, so a typed caller sees the TryContext
 * parameter and casts: `(svc.freeze as unknown as (args: A) => Promise<R>)(args)`.
 */
export function TwoPhaseBusinessAction(options: TwoPhaseBusinessActionOptions) {
  return <This, M extends TryMethod<This>>(method: M, context: ClassMethodDecoratorContext<This, M>): M => {
    const actions = new WeakMap<object, TccAction<unknown, unknown>>();
    context.addInitializer(function (this: This) {
      const self = this as unknown as Record<
        string,
        (ctx: PhaseTwoContext<unknown>) => Promise<boolean | undefined>
      >;
      const commit = self[options.commitMethod ?? 'commit'];
      const rollback = self[options.rollbackMethod ?? 'rollback'];
      if (typeof commit !== 'function' || typeof rollback !== 'function') {
        throw new TypeError(
          `@TwoPhaseBusinessAction(${options.name}): the class needs ${options.commitMethod ?? 'commit'} and ${options.rollbackMethod ?? 'rollback'} methods`,
        );
      }
      actions.set(
        this as unknown as object,
        defineTccAction(options.client ?? getDefaultClient(), {
          name: options.name,
          try: (ctx) => method.call(this, ctx as TryContext<never, never>) as Promise<unknown>,
          confirm: (ctx) => commit.call(this, ctx),
          cancel: (ctx) => rollback.call(this, ctx),
          ...(options.fence ? { fence: options.fence } : {}),
          ...(options.contextOf ? { contextOf: options.contextOf } : {}),
        }),
      );
    });
    // The replacement takes the try's arguments, not a context: it is the action itself.
    return function (this: unknown, args: unknown): Promise<unknown> {
      const action = actions.get(this as object);
      if (!action)
        throw new TypeError(
          `@TwoPhaseBusinessAction(${options.name}) called on an object that was not constructed`,
        );
      return action(args);
    } as unknown as M;
  };
}
