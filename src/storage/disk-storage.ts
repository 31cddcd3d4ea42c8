// The local-disk storage backend: one directory, for the service user only (directories 0700,
// files 0600, src/storage/private-files.ts). The default, for one machine or embedded use: on
// several machines each would see only its own files (use the S3 backend there).
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { contentTypeForKey } from "./content-type.js";
import { ensurePrivateDir, notPrivateWarning, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "./private-files.js";
import { assertStorageKey, isValidStorageKey, type Storage, type StoredObject } from "./storage.js";

/**
 * The local-disk storage at `dir`, created 0700 or narrowed to 0700 if it exists with a wider mode.
 * `warn` hears when the directory belongs to someone else and could not be narrowed.
 */
export async function openLocalDiskStorage(
  dir: string,
  warn: (msg: string) => void = () => {},
): Promise<LocalDiskStorage> {
  if (!(await ensurePrivateDir(dir))) warn(notPrivateWarning(dir));
  return new LocalDiskStorage(dir);
}

export class LocalDiskStorage implements Storage {
  constructor(private readonly dir: string) {}

  // Directories under `dir` (fonts/) made by this process: made once, not on every put.
  private readonly made = new Set<string>();

  // The content type is derived from the key's extension when read, so it is not stored.
  async put(key: string, body: Buffer | Readable): Promise<void> {
    assertStorageKey(key);
    const file = path.join(this.dir, key);
    const parent = path.dirname(file);
    if (parent !== this.dir && !this.made.has(parent)) {
      await mkdir(parent, { recursive: true, mode: PRIVATE_DIR_MODE });
      this.made.add(parent);
    }
    // Write then rename: a reader never sees half a file, and a retried render overwrites cleanly.
    const tmp = path.join(parent, `.${path.basename(key)}.${process.pid}.tmp`);
    try {
      await (Buffer.isBuffer(body)
        ? writeFile(tmp, body, { mode: PRIVATE_FILE_MODE })
        : pipeline(body, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE })));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<StoredObject | null> {
    if (!isValidStorageKey(key)) return null;
    const file = path.join(this.dir, key);
    try {
      const s = await stat(file);
      return {
        stream: createReadStream(file),
        size: s.size,
        contentType: contentTypeForKey(key),
        lastModified: s.mtime,
      };
    } catch {
      return null;
    }
  }

  async read(key: string): Promise<Buffer> {
    return readFile(await this.localPath(key));
  }

  async localPath(key: string): Promise<string> {
    assertStorageKey(key);
    return path.join(this.dir, key);
  }

  async delete(key: string): Promise<void> {
    if (!isValidStorageKey(key)) return;
    await rm(path.join(this.dir, key), { force: true });
  }
}
