// Local stand-ins for delivery destinations, on 127.0.0.1, that check the real request shapes:
// a Dropbox content API (files/upload), a Standard Webhooks receiver and a GFcrew endpoint.
// Each records what it received and can be told to fail. Tests must send with
// allowPrivateNetworks: true (these servers are on loopback).
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { verifyWebhook } from "../../src/delivery/signing.js";

type Headers = http.IncomingHttpHeaders;

/** A scripted answer: a status, or a status with headers/body and an optional delay before answering. */
export type ScriptedAnswer =
  number | { status: number; headers?: Record<string, string>; body?: string | Buffer; delayMs?: number };

interface Base {
  url: string;
  /** Stops the server, dropping open connections. */
  close: () => Promise<void>;
}

async function listen(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
  port = 0,
): Promise<{ server: http.Server; url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`fake server error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}

/**
 * A destination that is slow on purpose: the delay is the behaviour under test (a sender's
 * timeout), not a wait. Ends early when the client hangs up, so a long delay costs nothing.
 */
function respondAfter(ms: number, res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function answer(
  res: http.ServerResponse,
  a: ScriptedAnswer,
  fallbackBody: (status: number) => string | Buffer,
): Promise<number> {
  const spec = typeof a === "number" ? { status: a } : a;
  if (spec.delayMs) await respondAfter(spec.delayMs, res);
  if (res.destroyed) return spec.status;
  const body = spec.body ?? fallbackBody(spec.status);
  res.writeHead(spec.status, { "content-type": "application/json", ...spec.headers });
  res.end(body);
  return spec.status;
}

// ---------------------------------------------------------------------------------------------
// Dropbox

interface DropboxUpload {
  /** Parsed Dropbox-API-Arg. */
  arg: { path: string; mode: "add" | "overwrite"; autorename: boolean; mute: boolean };
  /** The raw Dropbox-API-Arg header as received (ASCII, non-ASCII escaped). */
  rawArg: string;
  /** Where the file was stored (path_display). */
  storedPath: string;
  bytes: Buffer;
  headers: Headers;
}

export interface FakeDropbox extends Base {
  /** Successful uploads. */
  uploads: DropboxUpload[];
  /** Every request, including refused ones. */
  requests: { headers: Headers; status: number }[];
  /** Answer the next `n` requests with `status` (Dropbox-style error body), before any checks. */
  failNext(n: number, status: number, opts?: { retryAfterSeconds?: number; errorSummary?: string }): void;
  /** Stored files by lower-cased path. */
  files: Map<string, { pathDisplay: string; bytes: Buffer; id: string; rev: string }>;
}

/** Dropbox's content hash: SHA-256 over the concatenated SHA-256 of each 4 MiB block. */
export function dropboxContentHash(bytes: Buffer): string {
  const block = 4 * 1024 * 1024;
  const outer = createHash("sha256");
  for (let i = 0; i < bytes.length; i += block)
    outer.update(
      createHash("sha256")
        .update(bytes.subarray(i, i + block))
        .digest(),
    );
  return outer.digest("hex");
}

const API_ERROR = 'Error in call to API function "files/upload"';

export async function startFakeDropbox(opts: { token: string }): Promise<FakeDropbox> {
  const uploads: DropboxUpload[] = [];
  const requests: FakeDropbox["requests"] = [];
  const files: FakeDropbox["files"] = new Map();
  const failures: { status: number; retryAfterSeconds?: number | undefined; errorSummary?: string | undefined }[] = [];
  let counter = 0;

  const srv = await listen(async (req, res) => {
    const record = (status: number) => requests.push({ headers: req.headers, status });
    const body = await readAll(req);
    const failure = failures.shift();
    if (failure) {
      record(failure.status);
      const summary = failure.errorSummary ?? (failure.status === 429 ? "too_many_requests/.." : "internal_error/..");
      const tag = summary.split("/")[0] ?? "other";
      const headers: Record<string, string> =
        failure.retryAfterSeconds !== undefined ? { "retry-after": String(failure.retryAfterSeconds) } : {};
      if (failure.status >= 500) return text(res, failure.status, "");
      return json(
        res,
        failure.status,
        {
          error_summary: summary,
          error: {
            ".tag": tag,
            ...(failure.retryAfterSeconds !== undefined ? { retry_after: failure.retryAfterSeconds } : {}),
          },
        },
        headers,
      );
    }
    const fail400 = (msg: string) => {
      record(400);
      text(res, 400, `${API_ERROR}: ${msg}`);
    };
    if (req.method !== "POST" || req.url !== "/2/files/upload") {
      record(404);
      return text(res, 404, "Unknown API function");
    }
    const auth = req.headers.authorization;
    if (!auth) return fail400('Must provide HTTP header "Authorization" or URL parameter "authorization".');
    if (auth !== `Bearer ${opts.token}`) {
      record(401);
      return json(res, 401, { error_summary: "invalid_access_token/...", error: { ".tag": "invalid_access_token" } });
    }
    const ct = req.headers["content-type"];
    if (ct !== "application/octet-stream") {
      return fail400(
        `Bad HTTP "Content-Type" header: "${ct ?? ""}". Expecting one of "application/octet-stream", "text/plain; charset=dropbox-cors-hack".`,
      );
    }
    const rawArg = req.headers["dropbox-api-arg"];
    if (typeof rawArg !== "string")
      return fail400('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".');
    if (!/^[\x20-\x7e]*$/.test(rawArg))
      return fail400('HTTP header "Dropbox-API-Arg": could not decode input as JSON (characters must be escaped)');
    let arg: Record<string, unknown>;
    try {
      arg = JSON.parse(rawArg) as Record<string, unknown>;
    } catch {
      return fail400('HTTP header "Dropbox-API-Arg": could not decode input as JSON');
    }
    const known = new Set(["path", "mode", "autorename", "mute", "client_modified", "strict_conflict", "content_hash"]);
    const unknown = Object.keys(arg).find((k) => !known.has(k));
    if (unknown) return fail400(`HTTP header "Dropbox-API-Arg": unknown field "${unknown}"`);
    const path = arg.path;
    if (typeof path !== "string" || !path.startsWith("/") || path.endsWith("/")) {
      return fail400(
        `HTTP header "Dropbox-API-Arg": path: '${String(path)}' did not match pattern '(/(.|[\\r\\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)'`,
      );
    }
    const mode = arg.mode ?? "add";
    if (mode !== "add" && mode !== "overwrite")
      return fail400(`HTTP header "Dropbox-API-Arg": mode: unknown tag "${JSON.stringify(mode)}"`);
    for (const flag of ["autorename", "mute"] as const) {
      if (arg[flag] !== undefined && typeof arg[flag] !== "boolean")
        return fail400(`HTTP header "Dropbox-API-Arg": ${flag}: expected boolean`);
    }
    const autorename = arg.autorename === true;

    let target = path;
    const existing = files.get(target.toLowerCase());
    if (existing && mode === "add" && !existing.bytes.equals(body)) {
      if (!autorename) {
        record(409);
        return json(res, 409, {
          error_summary: "path/conflict/file/..",
          error: {
            ".tag": "path",
            reason: { ".tag": "conflict", conflict: { ".tag": "file" } },
            upload_session_id: `pid_upload_session:${randomBytes(6).toString("hex")}`,
          },
        });
      }
      const dot = path.lastIndexOf(".");
      const [stem, ext] = dot > path.lastIndexOf("/") ? [path.slice(0, dot), path.slice(dot)] : [path, ""];
      for (let n = 1; files.has(target.toLowerCase()); n++) target = `${stem} (${n})${ext}`;
    }
    const id = existing && target === path ? existing.id : `id:${randomBytes(11).toString("base64url")}`;
    const rev = `${(++counter).toString(16).padStart(9, "0")}${randomBytes(5).toString("hex")}`;
    files.set(target.toLowerCase(), { pathDisplay: target, bytes: body, id, rev });
    uploads.push({
      arg: { path, mode, autorename, mute: arg.mute === true },
      rawArg,
      storedPath: target,
      bytes: body,
      headers: req.headers,
    });
    record(200);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    json(res, 200, {
      name: target.slice(target.lastIndexOf("/") + 1),
      path_lower: target.toLowerCase(),
      path_display: target,
      id,
      client_modified: now,
      server_modified: now,
      rev,
      size: body.length,
      is_downloadable: true,
      content_hash: dropboxContentHash(body),
    });
  });
  return {
    url: srv.url,
    close: srv.close,
    uploads,
    requests,
    files,
    failNext(n, status, o = {}) {
      for (let i = 0; i < n; i++)
        failures.push({ status, retryAfterSeconds: o.retryAfterSeconds, errorSummary: o.errorSummary });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks receiver

/** null when all three verifiers accept the request, else the first one's complaint. */
export function verifyWithEveryLibrary(secret: string, headers: Headers, body: Buffer): string | null {
  // The libraries take a plain string record; Node gives repeated headers as arrays.
  const flat = Object.fromEntries(
    Object.entries(headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(" ") : v]])),
  );
  const verifiers: [string, () => unknown][] = [
    ["templified/webhooks", () => verifyWebhook(secret, headers, body)],
    ["standardwebhooks", () => new StandardWebhook(secret).verify(body, flat)],
    ["svix", () => new SvixWebhook(secret).verify(body, flat)],
  ];
  for (const [name, verify] of verifiers) {
    try {
      verify();
    } catch (err) {
      return `${name}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return null;
}

interface WebhookAttempt {
  method: string;
  path: string;
  headers: Headers;
  body: Buffer;
  /** Verified by all three: our verifyWebhook, `standardwebhooks` and `svix`, each unchanged. */
  verified: boolean;
  /** The first verifier's complaint when not verified (`standardwebhooks: …`). */
  verifyError: string | null;
  /** What the receiver answered (or was about to, for a delayed answer). */
  status: number;
}

export interface WebhookReceiver extends Base {
  attempts: WebhookAttempt[];
  /** Queue answers for the next requests, e.g. respond(500, 500, 200) or respond({ status: 429, headers: { "retry-after": "7" } }). */
  respond(...answers: ScriptedAnswer[]): void;
}

/**
 * Verifies every request with our verifyWebhook and with the reference libraries integrators use
 * (`standardwebhooks`, `svix`, called as their READMEs show, with the raw body), and records it;
 * answers 200 unless scripted.
 */
export async function startWebhookReceiver(opts: {
  secret: string;
  script?: ScriptedAnswer[];
  port?: number;
}): Promise<WebhookReceiver> {
  const attempts: WebhookAttempt[] = [];
  const script: ScriptedAnswer[] = [...(opts.script ?? [])];
  const srv = await listen(async (req, res) => {
    const body = await readAll(req);
    const verifyError = verifyWithEveryLibrary(opts.secret, req.headers, body);
    const next: ScriptedAnswer = script.shift() ?? (verifyError ? 401 : 200);
    const status = typeof next === "number" ? next : next.status;
    attempts.push({
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      body,
      verified: verifyError === null,
      verifyError,
      status,
    });
    await answer(res, next, (s) =>
      JSON.stringify(s < 300 ? { received: true } : { error: verifyError ?? `scripted ${s}` }),
    );
  }, opts.port);
  return { url: srv.url, close: srv.close, attempts, respond: (...answers) => void script.push(...answers) };
}

// ---------------------------------------------------------------------------------------------
// GFcrew (our assumption of its API: see src/delivery/destinations/gfcrew.ts)

interface GfcrewUpload {
  filename: string;
  contentType: string;
  bytes: Buffer;
  metadata: Record<string, unknown>;
  headers: Headers;
  id: string;
}

export interface FakeGfcrew extends Base {
  uploads: GfcrewUpload[];
  requests: { headers: Headers; status: number; error?: string }[];
  failNext(n: number, status: number): void;
}

export async function startFakeGfcrew(opts: { apiKey: string }): Promise<FakeGfcrew> {
  const uploads: GfcrewUpload[] = [];
  const requests: FakeGfcrew["requests"] = [];
  const failures: number[] = [];
  let counter = 0;
  const srv = await listen(async (req, res) => {
    const body = await readAll(req);
    const refuse = (status: number, error: string) => {
      requests.push({ headers: req.headers, status, error });
      json(res, status, { error });
    };
    const failure = failures.shift();
    if (failure !== undefined) return refuse(failure, `scripted ${failure}`);
    if (req.method !== "POST") return refuse(405, "method not allowed");
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return refuse(401, "invalid api key");
    const ct = req.headers["content-type"] ?? "";
    if (!/^multipart\/form-data;\s*boundary=/i.test(ct))
      return refuse(415, `expected multipart/form-data, got "${ct}"`);
    let form: FormData;
    try {
      form = await new Request(`http://gfcrew.local${req.url ?? "/"}`, {
        method: "POST",
        headers: { "content-type": ct },
        body: new Uint8Array(body),
      }).formData();
    } catch (err) {
      return refuse(400, `unparseable multipart body: ${(err as Error).message}`);
    }
    const keys = [...new Set([...form.keys()])].sort();
    if (keys.join(",") !== "file,metadata")
      return refuse(400, `expected parts file and metadata, got ${keys.join(",")}`);
    const file = form.get("file");
    if (typeof file === "string" || file === null) return refuse(400, "part file must be a file");
    if (!file.name) return refuse(400, "part file has no filename");
    if (!file.type.startsWith("image/"))
      return refuse(400, `part file has content type "${file.type}", expected an image`);
    const metaText = form.get("metadata");
    if (typeof metaText !== "string") return refuse(400, "part metadata must be a text field");
    let metadata: Record<string, unknown>;
    try {
      metadata = JSON.parse(metaText) as Record<string, unknown>;
    } catch {
      return refuse(400, "metadata is not JSON");
    }
    if (typeof metadata.job_id !== "string" || !metadata.job_id) return refuse(400, "metadata.job_id missing");
    if (!Array.isArray(metadata.tags) || !metadata.tags.every((t) => typeof t === "string"))
      return refuse(400, "metadata.tags must be an array of strings");
    if (typeof metadata.created_at !== "string" || Number.isNaN(Date.parse(metadata.created_at)))
      return refuse(400, "metadata.created_at must be an ISO date");
    const id = `gf_${++counter}`;
    uploads.push({
      filename: file.name,
      contentType: file.type,
      bytes: Buffer.from(await file.arrayBuffer()),
      metadata,
      headers: req.headers,
      id,
    });
    requests.push({ headers: req.headers, status: 201 });
    json(res, 201, { id, status: "received" });
  });
  return {
    url: srv.url,
    close: srv.close,
    uploads,
    requests,
    failNext(n, status) {
      for (let i = 0; i < n; i++) failures.push(status);
    },
  };
}
