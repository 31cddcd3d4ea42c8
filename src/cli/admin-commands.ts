// The operator commands behind `npm run admin`. Pure: argv in, one JSON-able result out, so the
// same code runs in the CLI process or, with the embedded database, inside the server.
import { parseArgs } from "node:util";
import type { Prisma } from "../db/client.js";
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from "../auth/api-keys.js";
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
  org show ORG_ID                              balance and status
  key create ORG_ID [--name NAME]              another API key for the organisation (shown once)
  key list ORG_ID                              the organisation's keys (prefix, name, state; never the key)
  key revoke KEY_ID                            stop a key now, open WebSockets included
  key rotate KEY_ID [--overlap-hours H]        a new key; the old one works H more hours (default 24, 0: stops now)`;

function cents(value: string | undefined, flag: string, allowZero: boolean): number {
  if (value === undefined) throw new UsageError(`${flag} is required`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || (!allowZero && n === 0)) {
    throw new UsageError(
      `${flag} must be a ${allowZero ? "non-negative" : "positive"} whole number of cents, got "${value}"`,
    );
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
      options: {
        name: { type: "string" },
        "balance-cents": { type: "string" },
        cents: { type: "string" },
        "overlap-hours": { type: "string" },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [group, command, id] = positionals;
  if (group === "key") return runKeyCommand(prisma, command, id, values);
  if (group !== "org") throw new UsageError(USAGE);
  const needId = () => {
    if (!id) throw new UsageError(`org ${command} needs an ORG_ID`);
    return id;
  };
  switch (command) {
    case "create": {
      if (!values.name) throw new UsageError("--name is required");
      const { org, apiKey, webhookSecret } = await createOrganization(
        { prisma, secretsKey: await deps.secretsKey() },
        {
          name: values.name,
          balanceCents:
            values["balance-cents"] === undefined ? 0 : cents(values["balance-cents"], "--balance-cents", true),
        },
      );
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

const DEFAULT_OVERLAP_HOURS = 24;

function overlapHours(value: string | undefined): number {
  if (value === undefined) return DEFAULT_OVERLAP_HOURS;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 24 * 90)
    throw new UsageError(`--overlap-hours must be a number of hours from 0 to 2160, got "${value}"`);
  return n;
}

async function runKeyCommand(
  prisma: Prisma,
  command: string | undefined,
  id: string | undefined,
  values: { name?: string | undefined; "overlap-hours"?: string | undefined },
): Promise<unknown> {
  const need = (what: string) => {
    if (!id) throw new UsageError(`key ${command} needs a ${what}`);
    return id;
  };
  switch (command) {
    case "create": {
      const orgId = need("ORG_ID");
      await showOrganization(prisma, orgId); // OrganizationNotFoundError for an unknown id
      const { key, view } = await createApiKey(prisma, orgId, values.name ?? null);
      return { ...view, api_key: key };
    }
    case "list": {
      const orgId = need("ORG_ID");
      await showOrganization(prisma, orgId);
      return { data: await listApiKeys(prisma, orgId) };
    }
    case "revoke":
      return revokeApiKey(prisma, need("KEY_ID"));
    case "rotate": {
      const { key, view, previous } = await rotateApiKey(
        prisma,
        need("KEY_ID"),
        overlapHours(values["overlap-hours"]) * 3_600_000,
      );
      return { ...view, api_key: key, previous };
    }
    default:
      throw new UsageError(USAGE);
  }
}
