// Everything Templified keeps on disk (the embedded database, rendered outputs and uploaded fonts,
// the secrets key file) is for the service user only: directories 0700, files 0600. The modes are
// given explicitly where each is created, so they hold whatever the process umask is (the entry
// points also set umask 077, in src/process.ts, for files libraries create, such as PGlite's).
import { chmod, mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (and missing parents) as 0700, and narrows `dir` itself to 0700 when it already
 * existed with a wider mode (created by an older version, say), which also hides the files in it
 * that were written then. Existing parents are left alone. Returns false, instead of throwing,
 * when the directory belongs to another user and its mode cannot be changed: the caller warns.
 */
export async function ensurePrivateDir(dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    await chmod(dir, PRIVATE_DIR_MODE);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPERM") return false;
    throw e;
  }
}

/** What to log when ensurePrivateDir could not narrow a directory. */
export const notPrivateWarning = (dir: string) =>
  `${dir} is not owned by this user, so its mode could not be set to 0700: make sure only the service user can read it`;

/**
 * Narrows everything under `dir` that others could read: files to 0600, directories to 0700. For
 * trees a library writes with modes of its own (PGlite creates its files 0666, whatever the
 * umask); the 0700 directory already keeps others out, this also keeps a copy of the tree private.
 */
export async function narrowTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    try {
      if (entry.isDirectory()) await narrowTree(full);
      else if (!entry.isFile()) continue; // symbolic links and sockets: not followed, not changed
      if (((await stat(full)).mode & 0o077) !== 0)
        await chmod(full, entry.isDirectory() ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e; // removed meanwhile: nothing to narrow
    }
  }
}
