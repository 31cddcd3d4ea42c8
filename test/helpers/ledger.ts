import { expect } from "vitest";
import type { Prisma } from "../../src/db/client.js";

/** The money invariant: for the organisation, sum(ledger) = balance. */
export async function expectLedgerBalanced(prisma: Prisma, orgId: string): Promise<number> {
  const org = await prisma.organization.findUniqueOrThrow({ where: { id: orgId } });
  const sum = await prisma.ledgerEntry.aggregate({ where: { orgId }, _sum: { amountCents: true } });
  expect(sum._sum.amountCents ?? 0).toBe(org.balanceCents);
  return org.balanceCents;
}
