/**
 * The voucher service: freezes a customer's interest-discount voucher for a loan, as a TCC
 * action.
 *
 *   try      available -> frozen for the loan   (fails when the voucher is not available)
 *   confirm  frozen -> used
 *   cancel   frozen -> available
 *
 * POST /voucher/freeze { voucherId, customerId, loanId } with the TX_XID header.
 */
import { defineTccAction } from '@dtx/client';
import type pg from 'pg';
import { runParticipant } from './participant.ts';

interface FreezeVoucher {
  voucherId: string;
  customerId: string;
  loanId: string;
}

await runParticipant<FreezeVoucher>({
  tables: [
    `CREATE TABLE IF NOT EXISTS voucher (
       voucher_id  VARCHAR(32) PRIMARY KEY,
       customer_id VARCHAR(32) NOT NULL,
       state       VARCHAR(16) NOT NULL,   -- available, frozen, used
       loan_id     VARCHAR(32)
     )`,
  ],
  route: '/voucher/freeze',
  defineAction: (client, fence) =>
    defineTccAction<FreezeVoucher, void, pg.PoolClient>(client, {
      name: 'freeze-voucher-for-loan',
      fence,
      async try({ args, tx, xid }) {
        const r = await tx.query(
          `UPDATE voucher SET state = 'frozen', loan_id = $3
            WHERE voucher_id = $1 AND customer_id = $2 AND state = 'available'`,
          [args.voucherId, args.customerId, args.loanId],
        );
        if (r.rowCount !== 1) throw new Error(`voucher ${args.voucherId} is not available`);
        console.log(`try: froze voucher ${args.voucherId} for ${args.loanId} (xid ${xid})`);
      },
      async confirm({ actionContext: c, tx }) {
        await tx.query(`UPDATE voucher SET state = 'used' WHERE voucher_id = $1 AND loan_id = $2`, [
          c.voucherId,
          c.loanId,
        ]);
        console.log(`confirm: voucher ${c.voucherId} used by ${c.loanId}`);
        return true;
      },
      async cancel({ actionContext: c, tx }) {
        await tx.query(
          `UPDATE voucher SET state = 'available', loan_id = NULL WHERE voucher_id = $1 AND loan_id = $2`,
          [c.voucherId, c.loanId],
        );
        console.log(`cancel: voucher ${c.voucherId} released (${c.loanId} not granted)`);
        return true;
      },
    }),
});
