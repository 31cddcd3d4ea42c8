// The operator command, run as a user runs it, against the test database.
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { inject } from "vitest";
import { decryptSecret } from "../src/delivery/crypto.js";
import { run } from "./helpers/run.js";

// The server's key, as an operator exports it for the command.
const SECRETS_KEY = randomBytes(32);
const admin = (...args: string[]) =>
  run("tsx", ["src/cli/admin.ts", ...args], {
    DATABASE_URL: inject("databaseUrl"),
    SECRETS_KEY: SECRETS_KEY.toString("base64"),
  });

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

  it("stores the webhook secret it prints encrypted with SECRETS_KEY, never in plaintext", async () => {
    const { stdout } = await admin("org", "create", "--name", "Sealed");
    const { org_id, webhook_secret } = JSON.parse(stdout) as { org_id: string; webhook_secret: string };
    expect(webhook_secret).toMatch(/^whsec_/);
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: inject("databaseUrl") });
    await client.connect();
    const { rows } = await client.query<{ webhook_secret: string }>(
      "SELECT webhook_secret FROM organizations WHERE id = $1",
      [org_id],
    );
    await client.end();
    expect(rows[0]!.webhook_secret).toMatch(/^v1:/);
    expect(rows[0]!.webhook_secret).not.toContain(webhook_secret.slice("whsec_".length));
    expect(decryptSecret(rows[0]!.webhook_secret, SECRETS_KEY)).toBe(webhook_secret);
  });

  it("with DATABASE_URL, never invents a secrets key of its own: org create needs the server's", async () => {
    const env = {
      DATABASE_URL: inject("databaseUrl"),
      SECRETS_KEY: "",
      SECRETS_KEY_FILE: path.join(tmpdir(), `templified-no-key-${randomBytes(4).toString("hex")}`, "secrets.key"),
    };
    const refused = await run("tsx", ["src/cli/admin.ts", "org", "create", "--name", "Keyless"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no secrets key: SECRETS_KEY is unset/);
    // Commands that store no secret do not need it.
    const { stdout } = await admin("org", "create", "--name", "Keyed");
    const { org_id } = JSON.parse(stdout) as { org_id: string };
    expect((await run("tsx", ["src/cli/admin.ts", "org", "show", org_id], env)).code).toBe(0);
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

describe("npm run admin -- key ...", () => {
  it("creates, lists, rotates and revokes an organisation's keys; never prints a stored key again", async () => {
    const created = JSON.parse((await admin("org", "create", "--name", "Keys")).stdout) as {
      org_id: string;
      api_key: string;
    };
    const second = await admin("key", "create", created.org_id, "--name", "ci");
    expect(second.code, second.stderr).toBe(0);
    const ci = JSON.parse(second.stdout) as { key_id: string; api_key: string; name: string; active: boolean };
    expect(ci).toMatchObject({ name: "ci", active: true });
    expect(ci.api_key).toMatch(/^tk_live_/);

    const listed = await admin("key", "list", created.org_id);
    const keys = (JSON.parse(listed.stdout) as { data: { key_id: string; name: string; active: boolean }[] }).data;
    expect(keys.map((k) => [k.name, k.active])).toEqual([
      ["default", true],
      ["ci", true],
    ]);
    expect(listed.stdout).not.toContain(created.api_key);
    expect(listed.stdout).not.toContain(ci.api_key);

    const rotated = JSON.parse((await admin("key", "rotate", ci.key_id, "--overlap-hours", "2")).stdout) as {
      key_id: string;
      api_key: string;
      previous: { key_id: string; expires_at: string; active: boolean };
    };
    expect(rotated.key_id).not.toBe(ci.key_id);
    expect(rotated.previous).toMatchObject({ key_id: ci.key_id, active: true });
    const hours = (Date.parse(rotated.previous.expires_at) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(1.9);
    expect(hours).toBeLessThanOrEqual(2);

    const revoked = JSON.parse((await admin("key", "revoke", ci.key_id)).stdout) as {
      active: boolean;
      revoked_at: string | null;
    };
    expect(revoked.active).toBe(false);
    expect(revoked.revoked_at).not.toBeNull();
    const again = await admin("key", "rotate", ci.key_id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("revoked or expired");
  });

  it("refuses unknown ids and bad flags", async () => {
    expect((await admin("key", "create", "org_missing")).stderr).toContain("org_missing not found");
    expect((await admin("key", "revoke", "key_missing")).stderr).toContain("key_missing not found");
    const bad = await admin("key", "rotate", "key_x", "--overlap-hours", "-1");
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("--overlap-hours");
    expect((await admin("key")).code).toBe(64);
  });
});
