// The key's organisation's money: balance, status and prices; the ledger, newest first.
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { accountView, ledgerEntryView, listLedger } from "../../billing/ledger.js";
import type { AppContext } from "../../context.js";
import { PageQuery } from "../../db/pagination.js";
import { principalOf } from "../auth.js";
import { Account, keyedErrors, LedgerEntry, page } from "../responses.js";

const tags = ["Billing"];

export const billingRoutes =
  (ctx: AppContext): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      "/billing",
      {
        schema: {
          operationId: "getBilling",
          summary: "The organisation's balance, status and prices",
          tags,
          response: { 200: Account, ...keyedErrors() },
        },
      },
      async (request) => accountView(ctx.prisma, ctx.prices, principalOf(request).orgId),
    );

    app.get(
      "/billing/ledger",
      {
        schema: {
          operationId: "listLedger",
          summary: "The ledger, newest first",
          tags,
          querystring: PageQuery,
          response: { 200: page(LedgerEntry), ...keyedErrors(400) },
        },
      },
      async (request) => {
        const page = await listLedger(ctx.prisma, principalOf(request).orgId, request.query);
        return { data: page.data.map(ledgerEntryView), next_cursor: page.next_cursor };
      },
    );
  };
