// API keys: shown once when created, stored only as a SHA-256 hash. Keys are long random
// strings, so a fast hash is enough (no password-style stretching needed) and lookups stay O(1).
//
// Lifecycle: an organisation has any number of keys. Revoking one stops it within a second:
// REST and GraphQL check every request against a per-process cache of at most KEY_CACHE_TTL_MS
// (cleared at once in the process that revokes, rotates or suspends), and open WebSockets are
// swept every KEY_RECHECK_MS. Rotating one creates a new key and lets the old one work for an
// overlap, like the webhook secret's rotation, so a fleet of clients can switch without an outage.
import { createHash, randomBytes } from "node:crypto";
import { newId } from "../db/ids.js";
import type { Db, Prisma } from "../db/client.js";

const KEY_PREFIX = "tk_live_";
/** Longer strings are not keys: refused before hashing. */
const MAX_KEY_LENGTH = 200;

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(24).toString("base64url");
}

class ApiKeyNotFoundError extends Error {
  constructor(id: string, problem = "not found") {
    super(`API key ${id} ${problem}`);
  }
}

export interface Principal {
  orgId: string;
  apiKeyId: string;
  /** The organisation is suspended: it may read, but renders answer 402 and live connections close. */
  suspended?: boolean;
}

/** What an operator sees of a key: never the key itself. */
export interface ApiKeyView {
  key_id: string;
  org_id: string;
  name: string | null;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  active: boolean;
}

type KeyRow = {
  id: string;
  orgId: string;
  name: string | null;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
  expiresAt: Date | null;
};

const usable = (row: { revokedAt: Date | null; expiresAt: Date | null }, now: Date) =>
  !row.revokedAt && (!row.expiresAt || row.expiresAt > now);

function view(row: KeyRow, now = new Date()): ApiKeyView {
  return {
    key_id: row.id,
    org_id: row.orgId,
    name: row.name,
    prefix: row.prefix,
    created_at: row.createdAt.toISOString(),
    revoked_at: row.revokedAt?.toISOString() ?? null,
    expires_at: row.expiresAt?.toISOString() ?? null,
    active: usable(row, now),
  };
}

/** Creates a key for the organisation; returns the plain key, the only time it exists. */
export async function createApiKey(
  prisma: Db,
  orgId: string,
  name: string | null = null,
): Promise<{ key: string; view: ApiKeyView }> {
  const key = generateApiKey();
  const row = await prisma.apiKey.create({
    data: { id: newId("key"), orgId, name, keyHash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX.length + 4) },
  });
  return { key, view: view(row) };
}

export async function listApiKeys(prisma: Prisma, orgId: string): Promise<ApiKeyView[]> {
  const rows = await prisma.apiKey.findMany({ where: { orgId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
  const now = new Date();
  return rows.map((row) => view(row, now));
}

/** Stops the key now. Revoking a revoked key keeps its first revocation time. */
export async function revokeApiKey(prisma: Prisma, keyId: string): Promise<ApiKeyView> {
  await prisma.apiKey.updateMany({ where: { id: keyId, revokedAt: null }, data: { revokedAt: new Date() } });
  forgetCachedApiKeys(prisma);
  const row = await prisma.apiKey.findUnique({ where: { id: keyId } });
  if (!row) throw new ApiKeyNotFoundError(keyId);
  return view(row);
}

/**
 * A new key for the same organisation (and name); the old one keeps working for `overlapMs`
 * (0: it stops now). Rotating a key that is already revoked or expired is refused: nothing would
 * be kept working, and a new key is what `createApiKey` is for.
 */
export async function rotateApiKey(
  prisma: Prisma,
  keyId: string,
  overlapMs: number,
): Promise<{ key: string; view: ApiKeyView; previous: ApiKeyView }> {
  const rotated = await prisma.$transaction(async (tx) => {
    const old = await tx.apiKey.findUnique({ where: { id: keyId } });
    if (!old) throw new ApiKeyNotFoundError(keyId);
    const now = new Date();
    if (!usable(old, now))
      throw new ApiKeyNotFoundError(keyId, "is revoked or expired: create a new key instead (key create ORG_ID)");
    const expiresAt = new Date(now.getTime() + overlapMs);
    // Conditional on the state just read: a revocation or another rotation that commits in
    // between makes this one refuse instead of issuing a key for a key that is gone.
    // An earlier, shorter expiry stays: rotation never lengthens a key's life.
    const changed = await tx.apiKey.updateMany({
      where: { id: keyId, revokedAt: null, expiresAt: old.expiresAt },
      data:
        overlapMs === 0
          ? { revokedAt: now }
          : { expiresAt: old.expiresAt && old.expiresAt < expiresAt ? old.expiresAt : expiresAt },
    });
    if (changed.count !== 1)
      throw new ApiKeyNotFoundError(
        keyId,
        "changed while rotating (revoked or rotated at the same time): list the keys and try again",
      );
    const previous = await tx.apiKey.findUniqueOrThrow({ where: { id: keyId } });
    const created = await createApiKey(tx, old.orgId, old.name);
    return { ...created, previous: view(previous, now) };
  });
  forgetCachedApiKeys(prisma);
  return rotated;
}

// ---- the key cache ----------------------------------------------------------------------------

/**
 * How long a process trusts what it read of a key: a key revoked or rotated away, or an
 * organisation suspended, in ANOTHER process (the admin CLI on PostgreSQL, another API instance)
 * is refused here within this; in this process at once (forgetCachedApiKeys). Expiry needs no
 * wait: the cached expires_at is compared with the clock on every request.
 */
export const KEY_CACHE_TTL_MS = 1_000;
/** Bounds the cache's memory; past it the oldest entries go first. */
const KEY_CACHE_MAX = 10_000;

interface KeyRecord {
  id: string;
  orgId: string;
  revokedAt: Date | null;
  expiresAt: Date | null;
  suspended: boolean;
}
interface CachedKey {
  /** When the read that produced it started: it is no newer than that. */
  readAt: number;
  /** null: no such key. Only keys that exist are kept (guessed keys would fill the cache). */
  record: Promise<KeyRecord | null>;
}

/** Per database client (tests run several apps in one process), by key hash. */
const keyCaches = new WeakMap<Prisma, Map<string, CachedKey>>();

/** Drops everything this process remembers of keys: the next request of each reads them again. */
export function forgetCachedApiKeys(prisma: Prisma): void {
  keyCaches.get(prisma)?.clear();
}

async function readKey(prisma: Prisma, keyHash: string): Promise<KeyRecord | null> {
  const row = await prisma.apiKey.findUnique({
    where: { keyHash },
    select: { id: true, orgId: true, revokedAt: true, expiresAt: true, org: { select: { status: true } } },
  });
  return (
    row && {
      id: row.id,
      orgId: row.orgId,
      revokedAt: row.revokedAt,
      expiresAt: row.expiresAt,
      suspended: row.org.status === "SUSPENDED",
    }
  );
}

/**
 * The key's record, read at most KEY_CACHE_TTL_MS ago. Concurrent requests with one key share
 * one read. A failed read is not kept.
 */
function cachedKey(prisma: Prisma, keyHash: string): Promise<KeyRecord | null> {
  let cache = keyCaches.get(prisma);
  if (!cache) keyCaches.set(prisma, (cache = new Map<string, CachedKey>()));
  const now = performance.now();
  const hit = cache.get(keyHash);
  if (hit && now - hit.readAt < KEY_CACHE_TTL_MS) return hit.record;
  const entry: CachedKey = { readAt: now, record: readKey(prisma, keyHash) };
  cache.delete(keyHash); // re-inserted last: the Map's order is the age order
  cache.set(keyHash, entry);
  if (cache.size > KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
  const mine = cache;
  entry.record.then(
    (record) => {
      if (!record && mine.get(keyHash) === entry) mine.delete(keyHash);
    },
    () => {
      if (mine.get(keyHash) === entry) mine.delete(keyHash);
    },
  );
  return entry.record;
}

/** The organisation a key belongs to, or null for an unknown, revoked or expired key. */
export async function authenticateApiKey(prisma: Prisma, key: string): Promise<Principal | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > MAX_KEY_LENGTH) return null;
  const row = await cachedKey(prisma, hashApiKey(key));
  if (!row || !usable(row, new Date())) return null;
  return { orgId: row.orgId, apiKeyId: row.id, ...(row.suspended ? { suspended: true } : {}) };
}

/**
 * Of the given key ids, those that may keep a live connection open: not revoked, not expired, and
 * of an organisation that is not suspended. One query for any number of open sockets.
 */
export async function usableApiKeyIds(prisma: Prisma, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const now = new Date();
  const rows = await prisma.apiKey.findMany({
    where: {
      id: { in: [...ids] },
      revokedAt: null,
      OR: [{ expiresAt: null }, { expiresAt: { gt: now } }],
      org: { status: "ACTIVE" },
    },
    select: { id: true },
  });
  return new Set(rows.map((r) => r.id));
}
