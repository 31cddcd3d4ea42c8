// A real S3-speaking server for tests, on loopback only: s3rver 3.7.1 behind a small front that
// verifies presigned URLs' SigV4 signatures (s3rver checks only their expiry and key id) and refuses
// anonymous requests, as a real store would. Findings behind the choices: docs/operations.md, storage.
import crypto, { createHash, createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import { SignatureV4 } from "@smithy/signature-v4";

export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }; // the only pair s3rver 3.x knows

// s3rver makes ListObjectsV2 continuation tokens with createCipheriv("des"), which OpenSSL 3 (Node >=17) only has in
// the legacy provider -> HTTP 500 once a listing is truncated. 3DES with K1=K2=K3 is single DES and is in the default
// provider. (Alternative: run node with --openssl-legacy-provider.)
let shimmed = false;
function installDesShim(): void {
  if (shimmed) return;
  shimmed = true;
  type CipherFn = (this: unknown, alg: string, key: Buffer, iv: Buffer | null, ...rest: unknown[]) => unknown;
  const c = crypto as unknown as Record<"createCipheriv" | "createDecipheriv", CipherFn>;
  for (const fn of ["createCipheriv", "createDecipheriv"] as const) {
    const orig = c[fn];
    c[fn] = function (alg, key, iv, ...rest) {
      if (typeof alg === "string" && alg.toLowerCase() === "des")
        return orig.call(this, "des-ede3-cbc", Buffer.concat([key, key, key]), iv, ...rest);
      return orig.call(this, alg, key, iv, ...rest);
    };
  }
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
const toBuf = (d: SourceData): string | Buffer =>
  typeof d === "string"
    ? d
    : ArrayBuffer.isView(d)
      ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(d);
class Sha256 {
  private h: crypto.Hash | crypto.Hmac;
  constructor(secret?: SourceData) {
    this.h = secret ? createHmac("sha256", toBuf(secret)) : createHash("sha256");
  }
  update(d: SourceData): void {
    this.h.update(toBuf(d));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}
const HOISTED = new Set([
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Signature",
]);

/** Recomputes the SigV4 query signature (s3rver 3.x checks only expiry and access key id). */
async function presignedSignatureValid(req: http.IncomingMessage): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://placeholder");
  const q = url.searchParams;
  const [keyId, , region, service] = (q.get("X-Amz-Credential") ?? "").split("/");
  if (keyId !== S3RVER_CREDENTIALS.accessKeyId || !region || !service) return false;
  const d = q.get("X-Amz-Date") ?? "";
  const signingDate = new Date(
    `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`,
  );
  const query: Record<string, string> = {};
  const headers: Record<string, string> = {};
  for (const [k, v] of q) {
    if (k === "X-Amz-Content-Sha256")
      headers[k] = v; // payload hash is read from headers, then hoisted back
    else if (!HOISTED.has(k)) query[k] = v;
  }
  for (const h of (q.get("X-Amz-SignedHeaders") ?? "host").split(";")) headers[h] = String(req.headers[h] ?? "");
  const signer = new SignatureV4({
    service,
    region,
    credentials: S3RVER_CREDENTIALS,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.presign(
    {
      method: req.method ?? "GET",
      protocol: "http:",
      hostname: url.hostname,
      path: (req.url ?? "/").split("?")[0] ?? "/",
      query,
      headers,
    },
    { signingDate, expiresIn: Number(q.get("X-Amz-Expires")) },
  );
  const a = Buffer.from(String(signed.query?.["X-Amz-Signature"] ?? ""));
  const b = Buffer.from(q.get("X-Amz-Signature") ?? "");
  return a.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

function deny(res: http.ServerResponse, code: string, message: string, status = 403): void {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

export interface S3TestServer {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** The settings a stack or a spawned process needs to use `bucket` on `server`. */
export const s3Env = (server: S3TestServer, bucket: string): Record<string, string> => ({
  STORAGE_BACKEND: "s3",
  S3_BUCKET: bucket,
  S3_ENDPOINT: server.endpoint,
  S3_REGION: "us-east-1",
  S3_FORCE_PATH_STYLE: "true",
  S3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  S3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
});

export async function startS3TestServer(opts: { buckets?: string[] } = {}): Promise<S3TestServer> {
  installDesShim();
  const directory = await mkdtemp(join(tmpdir(), "s3rver-"));
  const s3rver = new S3rver({
    silent: true,
    directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  await s3rver.configureBuckets();
  const handler = s3rver.callback();
  const server = http.createServer((req, res) => {
    const presigned = (req.url ?? "").includes("X-Amz-Signature=");
    if (!presigned && !req.headers.authorization) return deny(res, "AccessDenied", "anonymous request");
    if (!presigned) return void handler(req, res);
    presignedSignatureValid(req).then(
      (ok) => (ok ? void handler(req, res) : deny(res, "SignatureDoesNotMatch", "presigned signature mismatch")),
      (err: unknown) => deny(res, "InternalError", String(err), 500),
    );
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as import("node:net").AddressInfo;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      (s3rver as unknown as { logger: { close(): void } }).logger.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
