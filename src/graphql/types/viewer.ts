// viewer: the API key's organisation, its balance, prices and ledger.
import {
  accountView,
  ledgerEntryView,
  listLedger,
  type AccountView,
  type LedgerEntryView,
} from "../../billing/ledger.js";
import { builder, principalOf } from "../builder.js";
import { pageArgs, toConnection } from "../connections.js";

const OrganizationStatus = builder.enumType("OrganizationStatus", { values: ["ACTIVE", "SUSPENDED"] as const });
const LedgerKind = builder.enumType("LedgerKind", { values: ["TOPUP", "CHARGE", "REFUND"] as const });

const Prices = builder.objectRef<AccountView["prices"]>("Prices").implement({
  description:
    "What a render costs, in cents: standard up to largeAboveMegapixels of output, large above; plus backgroundRemovalCents per image layer with removeBackground that the render draws.",
  fields: (t) => ({
    standardCents: t.exposeInt("standard_cents"),
    largeCents: t.exposeInt("large_cents"),
    largeAboveMegapixels: t.exposeFloat("large_above_megapixels"),
    backgroundRemovalCents: t.exposeInt("background_removal_cents"),
  }),
});

const LedgerEntry = builder.objectRef<LedgerEntryView>("LedgerEntry").implement({
  description: "One immutable money movement. The entries sum to the balance.",
  fields: (t) => ({
    id: t.exposeID("entry_id"),
    kind: t.field({ type: LedgerKind, resolve: (e) => e.kind }),
    amountCents: t.exposeInt("amount_cents", { description: "Positive for TOPUP and REFUND, negative for CHARGE" }),
    jobId: t.exposeString("job_id", { nullable: true }),
    note: t.exposeString("note", { nullable: true }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.created_at }),
  }),
});

const Organization = builder.objectRef<AccountView>("Organization").implement({
  fields: (t) => ({
    id: t.exposeID("org_id"),
    name: t.exposeString("name"),
    balanceCents: t.exposeInt("balance_cents"),
    status: t.field({ type: OrganizationStatus, resolve: (org) => org.status }),
    prices: t.field({ type: Prices, resolve: (org) => org.prices }),
    ledger: t.connection({
      type: LedgerEntry,
      description: "Newest first.",
      resolve: async (org, args, ctx) =>
        toConnection(await listLedger(ctx.app.prisma, org.org_id, pageArgs(args)), ledgerEntryView, args),
    }),
  }),
});

const Viewer = builder.objectRef<{ orgId: string }>("Viewer").implement({
  fields: (t) => ({
    organization: t.field({
      type: Organization,
      resolve: (viewer, _args, ctx) => accountView(ctx.app.prisma, ctx.app.prices, viewer.orgId),
    }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({ type: Viewer, resolve: (_root, _args, ctx) => ({ orgId: principalOf(ctx).orgId }) }),
);
