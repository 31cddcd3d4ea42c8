// The operator commands behind `npm run admin`. Pure: argv in, one JSON-able result out, so the
// same code runs in the CLI process or, with the embedded database, inside the server.
import { parseArgs } from "node:util";
import type { Prisma } from "../db/client.js";
import {
  createOrganization,
  fundOrganization,
  setOrganizationStatus,
  showOrganization,
} from "../billing/organizations.js";

export class UsageError extends Error {}

export const USAGE = `usage: npm run -s admin -- <command>
  org create --name NAME [--balance-cents N]   create an organisation and its first API key
  org fund ORG_ID --cents N                    add N cents to the balance (a TOPUP ledger row)
  org suspend ORG_ID                           dunning: renders answer 402 until reactivated
  org reactivate ORG_ID                        payment method updated: renders resume
  org show ORG_ID                              balance and status`;

function cents(value: string | undefined, flag: string, allowZero: boolean): number {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || (!allowZero && n === 0)) {
    throw new UsageError(`${flag} must be a ${allowZero ? "non-negative" : "positive"} whole number of cents, got "${value}"`);
  }
  return n;
}

/** What the commands use: the database, and (only `org create`, for the webhook secret it stores) the secrets key. */
export interface AdminDeps {
  prisma: Prisma;
  secretsKey: () => Promise<Buffer>;
}

export async function runAdminCommand(deps: AdminDeps, argv: string[]): Promise<unknown> {
  const { prisma } = deps;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: "string" }, "balance-cents": { type: "string" }, cents: { type: "string" } },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [group, command, id] = positionals;
  if (group !== "org") throw new UsageError(USAGE);
  const needId = () => {
    if (!id) throw new UsageError(`org ${command} needs an ORG_ID`);
    return id;
  };
  switch (command) {
    case "create": {
      if (!values.name) throw new UsageError("--name is required");
      const { org, apiKey, webhookSecret } = await createOrganization({ prisma, secretsKey: await deps.secretsKey() }, {
        name: values.name,
        balanceCents: values["balance-cents"] === undefined ? 0 : cents(values["balance-cents"], "--balance-cents", true),
      });
      return { org_id: org.org_id, api_key: apiKey, webhook_secret: webhookSecret };
    }
    case "fund":
      return fundOrganization(prisma, needId(), cents(values.cents, "--cents", false));
    case "suspend":
      return setOrganizationStatus(prisma, needId(), "SUSPENDED");
    case "reactivate":
      return setOrganizationStatus(prisma, needId(), "ACTIVE");
    case "show":
      return showOrganization(prisma, needId());
    default:
      throw new UsageError(USAGE);
  }
}
