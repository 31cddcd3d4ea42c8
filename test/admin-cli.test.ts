// The operator command, run as a user runs it, against the test database.
import { describe, expect, it } from "vitest";
import { inject } from "vitest";
import { run } from "./helpers/run.js";

const admin = (...args: string[]) => run("tsx", ["src/cli/admin.ts", ...args], { DATABASE_URL: inject("databaseUrl") });

describe("npm run admin -- org ...", () => {
  it("creates, funds, suspends, reactivates and shows an organisation, one JSON line each", async () => {
    const created = await admin("org", "create", "--name", "Acme", "--balance-cents", "500");
    expect(created.code, created.stderr).toBe(0);
    const lines = created.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const { org_id, api_key } = JSON.parse(lines[0]!) as { org_id: string; api_key: string };
    expect(org_id).toMatch(/^org_/);
    expect(api_key).toMatch(/^tk_live_/);

    const funded = JSON.parse((await admin("org", "fund", org_id, "--cents", "250")).stdout) as Record<string, unknown>;
    expect(funded).toMatchObject({ org_id, balance_cents: 750, status: "ACTIVE" });
    expect(JSON.parse((await admin("org", "suspend", org_id)).stdout)).toMatchObject({ status: "SUSPENDED" });
    expect(JSON.parse((await admin("org", "reactivate", org_id)).stdout)).toMatchObject({ status: "ACTIVE" });
    const shown = await admin("org", "show", org_id);
    expect(JSON.parse(shown.stdout)).toMatchObject({ org_id, name: "Acme", balance_cents: 750, status: "ACTIVE" });
  });

  it("stores only a hash of the key", async () => {
    const { stdout } = await admin("org", "create", "--name", "Hashed");
    const { api_key } = JSON.parse(stdout) as { api_key: string };
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM api_keys WHERE key_hash = $1 OR prefix = $1 OR key_hash LIKE '%' || $1 || '%'",
      [api_key],
    );
    await client.end();
    expect(rows[0]!.n).toBe("0");
  });

  it("refuses bad input with a message and a non-zero exit", async () => {
    const missing = await admin("org", "show", "org_missing");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("org_missing not found");
    const bad = await admin("org", "fund", "org_x", "--cents", "-5");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("--cents");
    const unknown = await admin("org", "explode");
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain("usage");
  });
});
