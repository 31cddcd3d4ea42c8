// Reading the money: the organisation's account (balance, status, prices) and its ledger.
import type { Prisma } from "../db/client.js";
import type { LedgerEntry } from "../generated/prisma/client.js";
import type { Page, PageQuery } from "../db/pagination.js";
import { listLedgerEntries } from "./billing-repository.js";
import { showOrganization } from "./organizations.js";
import type { PriceTable } from "./prices.js";

export interface AccountView {
  org_id: string;
  name: string;
  balance_cents: number;
  status: "ACTIVE" | "SUSPENDED";
  prices: {
    standard_cents: number;
    large_cents: number;
    large_above_megapixels: number;
    background_removal_cents: number;
  };
}

export async function accountView(prisma: Prisma, prices: PriceTable, orgId: string): Promise<AccountView> {
  const org = await showOrganization(prisma, orgId);
  return {
    org_id: org.org_id,
    name: org.name,
    balance_cents: org.balance_cents,
    status: org.status,
    prices: {
      standard_cents: prices.standardCents,
      large_cents: prices.largeCents,
      large_above_megapixels: prices.largeAboveMegapixels,
      background_removal_cents: prices.backgroundRemovalCents,
    },
  };
}

export interface LedgerEntryView {
  entry_id: string;
  kind: "TOPUP" | "CHARGE" | "REFUND";
  amount_cents: number;
  job_id: string | null;
  note: string | null;
  created_at: string;
}

export const ledgerEntryView = (e: LedgerEntry): LedgerEntryView => ({
  entry_id: e.id,
  kind: e.kind,
  amount_cents: e.amountCents,
  job_id: e.jobId,
  note: e.note,
  created_at: e.createdAt.toISOString(),
});

export async function listLedger(prisma: Prisma, orgId: string, page: PageQuery): Promise<Page<LedgerEntry>> {
  return listLedgerEntries(prisma, orgId, page);
}
