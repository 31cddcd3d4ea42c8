// The key that encrypts secrets at rest (Send-To credentials, webhook signing secrets).
// SECRETS_KEY in production (every instance must share it); for a single-machine install without
// it, a random key is created once in a file beside the data: the file 0600, a directory created
// for it 0700.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../storage/private-files.js";
import { parseEncryptionKey } from "./crypto.js";

export class MissingSecretsKeyError extends Error {}

/**
 * SECRETS_KEY, else the key in SECRETS_KEY_FILE. When neither exists, a new key is written to the
 * file, unless `create` is false (a command that may run on another machine than the server must
 * not invent a key of its own): then MissingSecretsKeyError.
 */
export async function loadSecretsKey(
  config: { SECRETS_KEY?: string | undefined; SECRETS_KEY_FILE: string },
  opts: { create?: boolean } = {},
): Promise<Buffer> {
  if (config.SECRETS_KEY) return parseEncryptionKey(config.SECRETS_KEY);
  try {
    return parseEncryptionKey((await readFile(config.SECRETS_KEY_FILE, "utf8")).trim());
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (opts.create === false) {
    throw new MissingSecretsKeyError(
      `no secrets key: SECRETS_KEY is unset and ${config.SECRETS_KEY_FILE} does not exist. Set SECRETS_KEY to the server's key ` +
        `(or SECRETS_KEY_FILE to its key file), or start the server once so that it creates the file.`,
    );
  }
  // Only the directories created here get 0700: an existing parent (/etc/…) is not ours to change.
  await mkdir(path.dirname(config.SECRETS_KEY_FILE), { recursive: true, mode: PRIVATE_DIR_MODE });
  const key = randomBytes(32);
  // "wx": if another process created it first, fail and read theirs.
  try {
    await writeFile(config.SECRETS_KEY_FILE, key.toString("base64") + "\n", { mode: PRIVATE_FILE_MODE, flag: "wx" });
    return key;
  } catch {
    return parseEncryptionKey((await readFile(config.SECRETS_KEY_FILE, "utf8")).trim());
  }
}
