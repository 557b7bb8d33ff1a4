/**
 * The quota service: freezes part of a customer's credit quota for a loan, as a TCC action.
 *
 *   try      available -> frozen    (fails when the quota is too small)
 *   confirm  frozen -> used         (the loan was granted)
 *   cancel   frozen -> available    (the loan was not granted)
 *
 * POST /quota/freeze { customerId, loanId, amount } with the TX_XID header runs the try inside
 * that global transaction; the TC later calls confirm or cancel.
 */
import { defineTccAction } from '@dtx/client';
import type pg from 'pg';
import { runParticipant } from './participant.ts';

interface FreezeQuota {
  customerId: string;
  loanId: string;
  amount: number;
}

await runParticipant<FreezeQuota>({
  tables: [
    `CREATE TABLE IF NOT EXISTS quota (
       customer_id VARCHAR(32) PRIMARY KEY,
       available   INT NOT NULL CHECK (available >= 0),
       frozen      INT NOT NULL CHECK (frozen >= 0),
       used        INT NOT NULL
     )`,
  ],
  route: '/quota/freeze',
  defineAction: (client, fence) =>
    defineTccAction<FreezeQuota, void, pg.PoolClient>(client, {
      name: 'freeze-quota-for-loan',
      fence,
      async try({ args, tx, xid }) {
        const r = await tx.query(
          'UPDATE quota SET available = available - $2, frozen = frozen + $2 WHERE customer_id = $1 AND available >= $2',
          [args.customerId, args.amount],
        );
        if (r.rowCount !== 1)
          throw new Error(`customer ${args.customerId} has less than ${args.amount} quota`);
        console.log(
          `try: froze ${args.amount} of ${args.customerId}'s quota for ${args.loanId} (xid ${xid})`,
        );
      },
      // confirm and cancel read the try's arguments back from the action context.
      async confirm({ actionContext: c, tx }) {
        await tx.query('UPDATE quota SET frozen = frozen - $2, used = used + $2 WHERE customer_id = $1', [
          c.customerId,
          c.amount,
        ]);
        console.log(`confirm: ${c.amount} of ${c.customerId}'s quota now used by ${c.loanId}`);
        return true;
      },
      async cancel({ actionContext: c, tx }) {
        await tx.query(
          'UPDATE quota SET frozen = frozen - $2, available = available + $2 WHERE customer_id = $1',
          [c.customerId, c.amount],
        );
        console.log(`cancel: ${c.amount} of ${c.customerId}'s quota released (${c.loanId} not granted)`);
        return true;
      },
    }),
});
