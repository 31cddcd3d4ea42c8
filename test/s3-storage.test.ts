// The S3 backend against a real S3-speaking server on loopback (s3rver, test/helpers/s3-server.ts):
// streamed and buffered writes, reads, a missing key, delete, the local cache for files the
// renderer needs, presigned links (a tampered one refused), and a missing bucket at start-up.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { openStorage } from "../src/storage/open-storage.js";
import { openS3Storage, type S3Storage, type S3StorageOptions } from "../src/storage/s3-storage.js";
import { S3RVER_CREDENTIALS, s3Env, startS3TestServer, type S3TestServer } from "./helpers/s3-server.js";

const BUCKET = "outputs";
let server: S3TestServer;
let dir: string;
let storage: S3Storage;
let options: S3StorageOptions;

beforeAll(async () => {
  server = await startS3TestServer({ buckets: [BUCKET] });
  dir = await mkdtemp(path.join(tmpdir(), "templified-s3-test-"));
  options = {
    bucket: BUCKET,
    region: "us-east-1",
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    prefix: "deploy-a/",
    cacheDir: path.join(dir, "cache"),
  };
  storage = await openS3Storage(options);
});
afterAll(async () => {
  storage?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const renderKey = () => `clx_${randomBytes(8).toString("hex")}.png`;
const fontKey = () => `fonts/fnt_${randomBytes(8).toString("hex")}.ttf`;
const drain = async (stream: Readable) => {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
};

describe("the S3 storage backend", () => {
  it("streams a write of unknown length (in parts), and reads it back with its metadata", async () => {
    const key = renderKey();
    // 6 MiB: more than one 5 MiB part, so the multipart path is exercised.
    const chunks = Array.from({ length: 6 }, (_, i) => Buffer.alloc(1024 * 1024, i));
    await storage.put(key, Readable.from(chunks), { contentType: "image/png", cacheControl: "public, max-age=60" });
    const object = await storage.get(key);
    expect(object).not.toBeNull();
    expect(object!.size).toBe(6 * 1024 * 1024);
    expect(object!.contentType).toBe("image/png");
    expect(object!.etag).toMatch(/^"/);
    expect(object!.lastModified).toBeInstanceOf(Date);
    expect((await drain(object!.stream)).equals(Buffer.concat(chunks))).toBe(true);
    // Under the prefix in the bucket, with the cache header kept for direct fetches.
    const head = await storage.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `deploy-a/${key}` }));
    expect(head.CacheControl).toBe("public, max-age=60");
  });

  it("writes a buffer in one request and reads it whole", async () => {
    const key = renderKey();
    await storage.put(key, Buffer.from("png bytes"), { contentType: "image/png" });
    expect((await storage.read(key)).toString()).toBe("png bytes");
  });

  it("answers null for a missing key and for a key no backend accepts", async () => {
    expect(await storage.get(renderKey())).toBeNull();
    // read() of a missing object fails as the disk's does (code ENOENT), not as a store error.
    await expect(storage.read(renderKey())).rejects.toMatchObject({ code: "ENOENT" });
    expect(await storage.get("../etc/passwd")).toBeNull();
    await expect(storage.put("../x.png", Buffer.from("x"), { contentType: "image/png" })).rejects.toThrow(
      /invalid storage key/,
    );
  });

  it("deletes an object (and deleting it again is fine)", async () => {
    const key = renderKey();
    await storage.put(key, Buffer.from("x"), { contentType: "image/png" });
    await storage.delete(key);
    expect(await storage.get(key)).toBeNull();
    await storage.delete(key);
  });

  it("downloads a file the renderer needs once into a private cache, and forgets it on delete", async () => {
    const key = fontKey();
    await storage.put(key, Buffer.from("font bytes"), { contentType: "font/ttf" });
    const [a, b] = await Promise.all([storage.localPath(key), storage.localPath(key)]);
    expect(a).toBe(b);
    expect(path.dirname(a)).toBe(options.cacheDir);
    expect((await readFile(a)).toString()).toBe("font bytes");
    expect((await stat(a)).mode & 0o777).toBe(0o600);
    expect((await stat(options.cacheDir)).mode & 0o777).toBe(0o700);
    // A second call is served from the cache: the object is gone from the bucket, the copy is not.
    await storage.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `deploy-a/${key}` }));
    await storage.delete(key);
    await expect(stat(a)).rejects.toThrow(/ENOENT/);
    await expect(storage.localPath(key)).rejects.toThrow();
  });

  it("presigns a GET that fetches the object until it expires; a tampered link is refused", async () => {
    const key = renderKey();
    await storage.put(key, Buffer.from("signed bytes"), {
      contentType: "image/png",
      cacheControl: "public, max-age=31536000, immutable",
    });
    const url = await storage.presignGet(key, 60);
    expect(new URL(url).origin).toBe(server.endpoint);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    // The stored year-long public caching is overridden: no cache keeps it past the link's life.
    expect(res.headers.get("cache-control")).toBe("private, max-age=60");
    expect(await res.text()).toBe("signed bytes");
    const other = renderKey();
    await storage.put(other, Buffer.from("other"), { contentType: "image/png" });
    expect((await fetch(url.replace(key, other))).status).toBe(403);
    const sig = new URL(url).searchParams.get("X-Amz-Signature")!;
    expect(
      (
        await fetch(
          url.replace(
            sig,
            sig.replace(/^./, (c) => (c === "0" ? "1" : "0")),
          ),
        )
      ).status,
    ).toBe(403);
    // Without a signature the bucket is not public.
    expect((await fetch(url.split("?")[0]!)).status).toBe(403);
  });

  it("refuses to start on a bucket that does not exist, naming it", async () => {
    await expect(openS3Storage({ ...options, bucket: "no-such-bucket" })).rejects.toThrow(
      /S3 bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+ does not exist/,
    );
  });

  it("refuses to start when the store is not reachable", async () => {
    await expect(openS3Storage({ ...options, endpoint: "http://127.0.0.1:1" })).rejects.toThrow(
      /S3 bucket outputs at http:\/\/127\.0\.0\.1:1 is not reachable/,
    );
  });
});

describe("choosing the backend", () => {
  it("STORAGE_BACKEND=s3 without S3_BUCKET is a configuration error naming the variable", () => {
    expect(() => parseConfig({ STORAGE_BACKEND: "s3" })).toThrow(/S3_BUCKET: required when STORAGE_BACKEND=s3/);
    expect(() => parseConfig({ S3_ACCESS_KEY_ID: "a" })).toThrow(/S3_SECRET_ACCESS_KEY/);
    expect(() => parseConfig({ STORAGE_BACKEND: "gcs" })).toThrow(/STORAGE_BACKEND/);
  });

  it("opens the S3 backend from the configuration, with the prefix normalised", async () => {
    const config = parseConfig({ ...s3Env(server, BUCKET), S3_PREFIX: "deploy-b", S3_CACHE_DIR: path.join(dir, "c2") });
    const chosen = await openStorage(config, () => {});
    try {
      const key = renderKey();
      await chosen.put(key, Buffer.from("b"), { contentType: "image/png" });
      expect(
        (await storage.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `deploy-b/${key}` }))).ContentLength,
      ).toBe(1);
      expect(typeof chosen.presignGet).toBe("function");
    } finally {
      chosen.close?.();
    }
  });

  it("a process configured with a missing bucket, or none, exits non-zero with one line naming it", async () => {
    const { run } = await import("./helpers/run.js");
    const services = { DATABASE_URL: inject("databaseUrl"), REDIS_URL: inject("redisUrl"), PORT: "0" };
    const missing = await run("tsx", ["src/main.ts", "api"], { ...services, ...s3Env(server, "no-such-bucket") });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/^S3 bucket no-such-bucket at http:\/\/127\.0\.0\.1:\d+ does not exist/),
    ]);
    const unset = await run("tsx", ["src/main.ts", "api"], { ...services, STORAGE_BACKEND: "s3" });
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toMatch(/S3_BUCKET: required when STORAGE_BACKEND=s3/);
  });

  it("the disk default does not load the AWS SDK", async () => {
    const { run } = await import("./helpers/run.js");
    const probe = [
      'import { parseConfig } from "./src/config.ts";',
      'import { openStorage } from "./src/storage/open-storage.ts";',
      'import { createRequire } from "node:module";',
      `await openStorage(parseConfig({ STORAGE_DIR: ${JSON.stringify(path.join(dir, "disk"))} }), () => {});`,
      'const loaded = Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes("@aws-sdk"));',
      "console.log(JSON.stringify({ loaded }));",
    ].join("\n");
    const res = await run("tsx", ["--input-type=module", "-e", probe]);
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toEqual({ loaded: false });
  });
});
