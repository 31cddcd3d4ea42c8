// Organisations for the end-to-end benchmark, created directly against its database (as the
// operator command does), each with its API key; and the reference card saved as a template.
// Templates belong to an organisation, so every organisation that renders saves its own.
import { createOrganization } from "../../../src/billing/organizations.js";
import { openDatabase } from "../../../src/db/client.js";
import type { JsonClient } from "./http.js";

export interface BenchOrg {
  orgId: string;
  apiKey: string;
}

/**
 * One organisation per name, with `balanceCents` (enough that no render of the run is refused).
 * `secretsKey` is the stack's: the organisation's webhook secret is stored encrypted with it.
 */
export async function createOrganisations(
  target: { databaseUrl: string; storageDir: string; secretsKey: Buffer },
  names: readonly string[],
  balanceCents = 1_000_000_000,
): Promise<BenchOrg[]> {
  const db = await openDatabase({ databaseUrl: target.databaseUrl, pgliteDir: target.storageDir, migrate: false });
  try {
    const out: BenchOrg[] = [];
    for (const name of names) {
      const { org, apiKey } = await createOrganization(
        { prisma: db.prisma, secretsKey: target.secretsKey },
        { name, balanceCents },
      );
      out.push({ orgId: org.org_id, apiKey });
    }
    return out;
  } finally {
    await db.close();
  }
}

/** Saves `document` (template JSON) through the API as the client's organisation; its template_id. */
export async function saveTemplate(client: JsonClient, document: string): Promise<string> {
  const saved = await client.request("POST", "/api/v1/templates", document);
  if (saved.status !== 201 && saved.status !== 200)
    throw new Error(`saving the template: ${saved.status} ${saved.body.slice(0, 300)}`);
  return (JSON.parse(saved.body) as { template_id: string }).template_id;
}
