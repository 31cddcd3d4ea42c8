// Secrets at rest and files on disk: webhook signing secrets are stored encrypted (read back from
// the raw rows with SQL), plaintext values from before encryption keep working and end up
// encrypted, and what Templified writes to disk is its user's alone (0700 directories, 0600 files).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import { openDatabase } from "../src/db/client.js";
import { decryptSecret, encryptSecret, isEncryptedSecret } from "../src/delivery/crypto.js";
import { loadSecretsKey, MissingSecretsKeyError } from "../src/delivery/secrets-key.js";
import { generateWebhookSecret } from "../src/delivery/signing.js";
import {
  encryptLegacyWebhookSecrets,
  openWebhookSecret,
  sealWebhookSecret,
  signingSecrets,
} from "../src/delivery/webhook-secrets.js";
import { createLogger } from "../src/logger.js";
import { openLocalDiskStorage } from "../src/storage/disk-storage.js";
import { freshDatabase } from "./helpers/infra.js";
import { cleanQueuePrefix, startStack, type Stack } from "./helpers/stack.js";

interface SecretRow {
  webhook_secret: string;
  previous_webhook_secret: string | null;
  previous_webhook_secret_expires_at: Date | null;
}

/** The organisation's row as the database holds it, bypassing the application. */
async function rawRow(databaseUrl: string, orgId: string): Promise<SecretRow> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<SecretRow>(
      "SELECT webhook_secret, previous_webhook_secret, previous_webhook_secret_expires_at FROM organizations WHERE id = $1",
      [orgId],
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

/** Writes plaintext secrets into the row, as a version before encryption did. */
async function writePlaintext(
  databaseUrl: string,
  orgId: string,
  current: string,
  previous: string | null,
): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      "UPDATE organizations SET webhook_secret = $2, previous_webhook_secret = $3, previous_webhook_secret_expires_at = $4 WHERE id = $1",
      [orgId, current, previous, previous ? new Date(Date.now() + 3600_000) : null],
    );
  } finally {
    await client.end();
  }
}

/** The stored value holds no trace of the secret: not the secret, not its base64 key material. */
function expectSealed(stored: string | null, secret: string, key: Buffer): void {
  expect(stored).not.toBeNull();
  expect(isEncryptedSecret(stored!)).toBe(true);
  expect(stored).not.toContain(secret);
  expect(stored).not.toContain(secret.slice("whsec_".length));
  expect(decryptSecret(stored!, key)).toBe(secret);
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe("webhook secrets are encrypted at rest", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_MAX: "0" }, { api: true, worker: false });
  });
  afterAll(() => stack?.stop());

  it("after creation and after rotation the columns never hold a plaintext secret", async () => {
    const key = stack.app.ctx.secretsKey;
    const org = await stack.createOrg(10);
    const created = (await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret as string;
    expect(created).toMatch(/^whsec_/);
    let row = await rawRow(inject("databaseUrl"), org.orgId);
    expectSealed(row.webhook_secret, created, key);
    expect(row.previous_webhook_secret).toBeNull();

    const rotated = await stack.api(org.apiKey, "POST", "/api/v1/webhooks/secret/rotate");
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.webhook_secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(created);
    row = await rawRow(inject("databaseUrl"), org.orgId);
    expectSealed(row.webhook_secret, fresh, key);
    expectSealed(row.previous_webhook_secret, created, key);
    expect(row.webhook_secret + row.previous_webhook_secret).not.toMatch(/whsec_/);

    // What the API shows and what the deliver worker signs with are the secrets, decrypted.
    expect((await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret).toBe(fresh);
    expect(await signingSecrets(stack.app.ctx, org.orgId)).toEqual([fresh, created]);
  });

  it("concurrent rotations each keep the secret they replaced: none is lost", async () => {
    const org = await stack.createOrg(10);
    const results = await Promise.all(
      [1, 2, 3].map(() => stack.api(org.apiKey, "POST", "/api/v1/webhooks/secret/rotate")),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const shown = results.map((r) => r.body.webhook_secret as string);
    expect(new Set(shown).size).toBe(3);
    // The last writer's secret is current, and the one before it (also shown to a caller) still signs.
    const [current, previous] = await signingSecrets(stack.app.ctx, org.orgId);
    expect(shown).toContain(current);
    expect(shown).toContain(previous);
  });
});

describe("plaintext secrets from before encryption", () => {
  // A database of its own: the start-up step scans every organisation, and other files' stacks
  // (each with its own key) must not encrypt the plaintext rows written here.
  let db: { url: string; drop: () => Promise<void> };
  let stack: Stack;
  beforeAll(async () => {
    db = await freshDatabase(inject("databaseUrl"));
    stack = await startStack({ DATABASE_URL: db.url, RATE_LIMIT_MAX: "0" }, { api: true, worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it("a plaintext row is still usable, and encrypting it is idempotent and safe to run concurrently", async () => {
    const key = stack.app.ctx.secretsKey;
    const org = await stack.createOrg(10);
    const [legacy, legacyPrevious] = [generateWebhookSecret(), generateWebhookSecret()];
    await writePlaintext(db.url, org.orgId, legacy, legacyPrevious);

    // Readable as it is: shown by the API, signed with by the deliver worker.
    expect((await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret).toBe(legacy);
    expect(await signingSecrets(stack.app.ctx, org.orgId)).toEqual([legacy, legacyPrevious]);

    // Several processes starting at once: each value is encrypted exactly once.
    const counts = await Promise.all([1, 2, 3].map(() => encryptLegacyWebhookSecrets(stack.app.ctx.prisma, key)));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2);
    const row = await rawRow(db.url, org.orgId);
    expectSealed(row.webhook_secret, legacy, key);
    expectSealed(row.previous_webhook_secret, legacyPrevious, key);
    expect(await encryptLegacyWebhookSecrets(stack.app.ctx.prisma, key)).toBe(0); // nothing left: idempotent
    expect(await rawRow(db.url, org.orgId)).toEqual(row);

    // And still the same secrets.
    expect((await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret).toBe(legacy);
    expect(await signingSecrets(stack.app.ctx, org.orgId)).toEqual([legacy, legacyPrevious]);
  });

  it("rotating a plaintext secret stores both the new one and the old one encrypted", async () => {
    const key = stack.app.ctx.secretsKey;
    const org = await stack.createOrg(10);
    const legacy = generateWebhookSecret();
    await writePlaintext(db.url, org.orgId, legacy, null);
    const rotated = await stack.api(org.apiKey, "POST", "/api/v1/webhooks/secret/rotate");
    expect(rotated.status).toBe(200);
    const row = await rawRow(db.url, org.orgId);
    expectSealed(row.webhook_secret, rotated.body.webhook_secret, key);
    expectSealed(row.previous_webhook_secret, legacy, key);
  });

  it("a process starting with migrations encrypts what is left", async () => {
    const org = await stack.createOrg(10);
    const legacy = generateWebhookSecret();
    await writePlaintext(db.url, org.orgId, legacy, null);
    const storageDir = await mkdtemp(path.join(tmpdir(), "templified-secrets-"));
    const config = parseConfig({
      DATABASE_URL: db.url,
      REDIS_URL: inject("redisUrl"),
      QUEUE_PREFIX: `test-${randomBytes(4).toString("hex")}`,
      STORAGE_DIR: storageDir,
      SECRETS_KEY: stack.app.ctx.secretsKey.toString("base64"),
    });
    const app = await buildApp(config, { api: false, worker: false, migrate: true, logger: createLogger("silent") });
    try {
      expectSealed((await rawRow(db.url, org.orgId)).webhook_secret, legacy, stack.app.ctx.secretsKey);
      expect((await stack.api(org.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret).toBe(legacy);
    } finally {
      await app.stop();
      await cleanQueuePrefix(config.REDIS_URL, config.QUEUE_PREFIX);
      await rm(storageDir, { recursive: true, force: true });
    }
  });
});

describe("the stored-secret helpers", () => {
  const key = randomBytes(32);

  it("seal and open round-trip; open passes a legacy plaintext secret through and refuses a wrong key", () => {
    const secret = generateWebhookSecret();
    const sealed = sealWebhookSecret(secret, key);
    expect(isEncryptedSecret(sealed)).toBe(true);
    expect(openWebhookSecret(sealed, key)).toBe(secret);
    expect(openWebhookSecret(secret, key)).toBe(secret);
    expect(() => openWebhookSecret(sealed, randomBytes(32))).toThrow(/wrong key/);
    expect(() => openWebhookSecret("garbage", key)).toThrow(/unknown format/);
  });

  it("never seals twice or seals something that is not a signing secret", () => {
    expect(() => sealWebhookSecret(sealWebhookSecret(generateWebhookSecret(), key), key)).toThrow(
      /not a webhook signing secret/,
    );
    expect(() => sealWebhookSecret("sl.token", key)).toThrow(/not a webhook signing secret/);
    expect(isEncryptedSecret(encryptSecret("anything", key))).toBe(true);
    expect(isEncryptedSecret("whsec_abc")).toBe(false);
  });
});

describe("files on disk are the service user's alone", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "templified-modes-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("stored renders and fonts are 0600 in 0700 directories", async () => {
    const root = path.join(dir, "data", "renders");
    const storage = await openLocalDiskStorage(root);
    await storage.put("clx_abcdefghij01.png", Buffer.from("png bytes"));
    await storage.put("fonts/fnt_abcdefghij01.ttf", Buffer.from("font bytes"));
    expect(await mode(path.join(dir, "data"))).toBe(0o700); // a parent it created, too
    expect(await mode(root)).toBe(0o700);
    expect(await mode(path.join(root, "fonts"))).toBe(0o700);
    expect(await mode(path.join(root, "clx_abcdefghij01.png"))).toBe(0o600);
    expect(await mode(path.join(root, "fonts", "fnt_abcdefghij01.ttf"))).toBe(0o600);
    expect((await storage.read("clx_abcdefghij01.png")).toString()).toBe("png bytes");
  });

  it("a storage directory an older version left world-readable is narrowed to 0700", async () => {
    const root = path.join(dir, "old-renders");
    await mkdir(root);
    await chmod(root, 0o755);
    await openLocalDiskStorage(root);
    expect(await mode(root)).toBe(0o700);
  });

  it("the secrets key file is created 0600 in a 0700 directory, and read back after", async () => {
    const file = path.join(dir, "keys", "secrets.key");
    const key = await loadSecretsKey({ SECRETS_KEY_FILE: file });
    expect(key).toHaveLength(32);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(path.dirname(file))).toBe(0o700);
    expect(await loadSecretsKey({ SECRETS_KEY_FILE: file })).toEqual(key);
    // A command that must not invent a key refuses instead.
    await expect(
      loadSecretsKey({ SECRETS_KEY_FILE: path.join(dir, "none", "secrets.key") }, { create: false }),
    ).rejects.toBeInstanceOf(MissingSecretsKeyError);
  });

  it("the embedded database directory is 0700, narrowed if it was wider", async () => {
    const pgliteDir = path.join(dir, "pglite");
    await mkdir(pgliteDir);
    await chmod(pgliteDir, 0o755);
    const db = await openDatabase({ pgliteDir, migrate: false });
    try {
      expect(await mode(pgliteDir)).toBe(0o700);
      // PGlite creates its files 0666; openDatabase narrows every one of them.
      const entries = await readdir(pgliteDir, { recursive: true });
      expect(entries.length).toBeGreaterThan(100);
      const open = [];
      for (const entry of entries) if (((await mode(path.join(pgliteDir, entry))) & 0o077) !== 0) open.push(entry);
      expect(open).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
