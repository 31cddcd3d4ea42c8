// Organisations and the money on them. Every balance change is paired with a ledger row in
// the same transaction, so sum(ledger) = balance always holds.
import { newId } from "../db/ids.js";
import type { Prisma } from "../db/client.js";
import type { OrganizationStatus } from "../generated/prisma/client.js";
import { createApiKey, forgetCachedApiKeys } from "../auth/api-keys.js";
import { generateWebhookSecret } from "../delivery/signing.js";
import { sealWebhookSecret } from "../delivery/webhook-secrets.js";
import {
  creditBalance,
  findOrganization,
  insertLedgerEntry,
  insertOrganization,
  updateOrganizationStatus,
} from "./billing-repository.js";

export interface OrganizationView {
  org_id: string;
  name: string;
  balance_cents: number;
  status: OrganizationStatus;
  created_at: string;
}

export class OrganizationNotFoundError extends Error {
  constructor(id: string) {
    super(`organization ${id} not found`);
  }
}

function view(org: {
  id: string;
  name: string;
  balanceCents: number;
  status: OrganizationStatus;
  createdAt: Date;
}): OrganizationView {
  return {
    org_id: org.id,
    name: org.name,
    balance_cents: org.balanceCents,
    status: org.status,
    created_at: org.createdAt.toISOString(),
  };
}

/**
 * A new organisation with its first API key and webhook signing secret, both returned in the clear
 * this once: the key is stored as a hash, the secret encrypted with `secretsKey` (SECRETS_KEY).
 */
export async function createOrganization(
  deps: { prisma: Prisma; secretsKey: Buffer },
  input: { name: string; balanceCents: number },
): Promise<{ org: OrganizationView; apiKey: string; webhookSecret: string }> {
  const { prisma } = deps;
  const id = newId("org");
  const webhookSecret = generateWebhookSecret();
  const org = await prisma.$transaction(async (tx) => {
    const created = await insertOrganization(tx, {
      id,
      name: input.name,
      balanceCents: input.balanceCents,
      webhookSecret: sealWebhookSecret(webhookSecret, deps.secretsKey),
    });
    if (input.balanceCents > 0) {
      await insertLedgerEntry(tx, {
        orgId: id,
        kind: "TOPUP",
        amountCents: input.balanceCents,
        note: "initial balance",
      });
    }
    return created;
  });
  const { key: apiKey } = await createApiKey(prisma, id, "default");
  return { org: view(org), apiKey, webhookSecret };
}

export async function fundOrganization(
  prisma: Prisma,
  orgId: string,
  cents: number,
  note = "top-up",
): Promise<OrganizationView> {
  return prisma.$transaction(async (tx) => {
    if (!(await creditBalance(tx, orgId, cents))) throw new OrganizationNotFoundError(orgId);
    await insertLedgerEntry(tx, { orgId, kind: "TOPUP", amountCents: cents, note });
    const org = await findOrganization(tx, orgId);
    if (!org) throw new OrganizationNotFoundError(orgId);
    return view(org);
  });
}

/**
 * Suspends or reactivates. Renders see it at once (the accept statement checks the status); the
 * API keys' cache of this process is cleared, other processes' expire within KEY_CACHE_TTL_MS.
 */
export async function setOrganizationStatus(
  prisma: Prisma,
  orgId: string,
  status: OrganizationStatus,
): Promise<OrganizationView> {
  if (!(await updateOrganizationStatus(prisma, orgId, status))) throw new OrganizationNotFoundError(orgId);
  forgetCachedApiKeys(prisma);
  return showOrganization(prisma, orgId);
}

export async function showOrganization(prisma: Prisma, orgId: string): Promise<OrganizationView> {
  const org = await findOrganization(prisma, orgId);
  if (!org) throw new OrganizationNotFoundError(orgId);
  return view(org);
}
