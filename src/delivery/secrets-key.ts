// The key that encrypts Send-To credentials at rest. SECRETS_KEY in production (every instance
// must share it); for a single-machine install without it, a random key is created once in a
// file beside the data, readable only by its owner.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseEncryptionKey } from "./crypto.js";

export async function loadSecretsKey(config: { SECRETS_KEY?: string | undefined; SECRETS_KEY_FILE: string }): Promise<Buffer> {
  if (config.SECRETS_KEY) return parseEncryptionKey(config.SECRETS_KEY);
  try {
    return parseEncryptionKey((await readFile(config.SECRETS_KEY_FILE, "utf8")).trim());
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await mkdir(path.dirname(config.SECRETS_KEY_FILE), { recursive: true });
  const key = randomBytes(32);
  // "wx": if another process created it first, fail and read theirs.
  try {
    await writeFile(config.SECRETS_KEY_FILE, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    return key;
  } catch {
    return parseEncryptionKey((await readFile(config.SECRETS_KEY_FILE, "utf8")).trim());
  }
}
