// Guarded outbound HTTP for URLs that users control (image layers, webhooks, delivery endpoints):
// the one client every such request goes through (SSRF protection).
//
// - http/https only; at most `maxRedirects` redirects (default 0: not followed), each hop
//   re-checked. A redirect beyond the budget is returned as the response, for the caller to judge.
// - Every hop's host is resolved and checked by src/net/address-policy.ts (public addresses only,
//   unless allowPrivateNetworks; `allowAddresses` lets exact addresses through, an intranet asset
//   server; `lookup` replaces the resolver, its answers are checked too).
// - The socket connects to the address that was checked: http(s).request gets a `lookup` that
//   returns it, so a second (rebinding) DNS answer can never be used. No keep-alive agent either.
// - One deadline for the whole exchange (DNS, connect, redirects, body), and a byte cap on the
//   response checked against Content-Length up front and while streaming.
// - Any HTTP status resolves; refusals and transport failures throw GuardedRequestError.
import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import {
  AddressCheckError,
  addressPolicy,
  resolveAllowedAddress,
  stripBrackets,
  systemLookup,
} from "./address-policy.js";

const DEFAULT_USER_AGENT = "Templified/0.1 (+https://github.com/templified)";

export type GuardedRequestErrorKind =
  | "blocked_address" // the address (literal or resolved) is not public and not allowed
  | "invalid_url" // not a URL, not http(s), or an unusable redirect location
  | "network" // DNS failure, connection refused/reset, TLS error, malformed response
  | "timeout" // the deadline passed
  | "too_large" // the response body exceeds maxResponseBytes
  | "aborted"; // the caller's signal aborted the request

export interface GuardedRequestOptions {
  /** Default "GET". */
  method?: string;
  /** Request headers (any case). A User-Agent is added unless given; Content-Length is set from `body`. */
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Deadline for the whole exchange, redirects and body included. */
  timeoutMs: number;
  /** Maximum response body size in bytes. */
  maxResponseBytes: number;
  /** Allow loopback/private/link-local/... addresses (tests, self-hosted intranets). */
  allowPrivateNetworks: boolean;
  /**
   * Redirects to follow (each target re-checked). Default 0: the 3xx response is returned as is.
   * Use 0 for POSTs. When following, 303 (and 301/302 after a POST) continue as a GET without a
   * body, and Authorization/Cookie headers are dropped when the origin changes.
   */
  maxRedirects?: number;
  /**
   * Addresses allowed even though they are not public (exact IPv4/IPv6 literals), when
   * allowPrivateNetworks is off. Every other address stays refused.
   */
  allowAddresses?: readonly string[];
  /** Name resolution (default: the system resolver, all addresses). Every answer is still checked. */
  lookup?: (hostname: string) => Promise<LookupAddress[]>;
  /** Abort from outside. */
  signal?: AbortSignal;
  /**
   * "all" (default): read the body of every final response. "success": read it only for 2xx;
   * other responses come back with an empty body, the connection closed without reading it.
   */
  readBody?: "all" | "success";
}

export interface GuardedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** From the start of the call until the body was read. */
  durationMs: number;
  /** The URL of the final response (after redirects). */
  finalUrl: string;
  /** Redirects followed. */
  redirects: number;
}

/** A refused request or a transport failure. `message` is `<METHOD> <url>: <reason>`. */
export class GuardedRequestError extends Error {
  override readonly name = "GuardedRequestError";
  /** The short reason, e.g. `address 10.0.0.1 is not public` or `timed out after 15000 ms`. */
  readonly reason: string;
  /** The requested URL, credentials removed (see displayUrl). */
  readonly url: string;
  /** True when the same request may succeed later (timeouts, transient network and DNS errors). */
  readonly retryable: boolean;
  /** The HTTP status when a response had arrived (too_large, or a failure while reading the body). */
  readonly status: number | undefined;

  constructor(
    readonly kind: GuardedRequestErrorKind,
    reason: string,
    details: { url: string; method: string; retryable: boolean; status?: number; cause?: unknown },
  ) {
    super(
      `${details.method} ${details.url}: ${reason}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.reason = reason;
    this.url = details.url;
    this.retryable = details.retryable;
    this.status = details.status;
  }
}

/** URL for messages: no credentials, bounded length. */
export function displayUrl(url: string | URL): string {
  let text: string;
  try {
    const u = new URL(url.toString());
    u.username = "";
    u.password = "";
    text = u.toString();
  } catch {
    text = String(url);
  }
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** Internal failure; turned into GuardedRequestError (with URL and method) at the top. */
class Failure extends Error {
  constructor(
    readonly kind: GuardedRequestErrorKind,
    message: string,
    readonly retryable = false,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An address refusal or failed lookup keeps its kind (blocked_address, network) and retryability. */
const asFailure = (err: unknown): never => {
  throw err instanceof AddressCheckError ? new Failure(err.kind, err.message, err.retryable) : err;
};

function pinnedLookup(pinned: LookupAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  }) as unknown as LookupFunction;
}

const TRANSIENT_NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
]);

function describeNetworkError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "ETIMEDOUT":
      return "connection timed out";
    case "CERT_HAS_EXPIRED":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return `TLS certificate error (${err.code})`;
    case "HPE_INVALID_CONSTANT":
    case "HPE_INVALID_HEADER_TOKEN":
      return "invalid HTTP response";
    default:
      return err.code ? `${err.message} (${err.code})` : err.message;
  }
}

interface Hop {
  status: number;
  location: string | undefined;
  response: http.IncomingMessage;
  request: http.ClientRequest;
}

interface HopRequest {
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

function requestOnce(url: URL, pinned: LookupAddress, req: HopRequest, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === "https:";
    const hostname = stripBrackets(url.hostname);
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers["content-length"] = String(req.body.length);
    const options: https.RequestOptions = {
      protocol: url.protocol,
      hostname,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: req.method,
      headers,
      agent: false, // a pooled socket could be connected to an address checked under other rules
      lookup: pinnedLookup(pinned),
      signal,
    };
    if (isHttps && !isIP(hostname)) options.servername = hostname;
    const request: http.ClientRequest = (isHttps ? https : http).request(options, (response) => {
      resolve({ status: response.statusCode ?? 0, location: response.headers.location, response, request });
    });
    request.on("error", reject);
    request.end(req.body);
  });
}

async function readBody(hop: Hop, maxBytes: number): Promise<Buffer> {
  const declared = hop.response.headers["content-length"];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    hop.request.destroy();
    throw new Failure(
      "too_large",
      `response is ${declared} bytes, more than the ${maxBytes}-byte limit`,
      false,
      hop.status,
    );
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of hop.response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      hop.request.destroy();
      throw new Failure("too_large", `response is more than the ${maxBytes}-byte limit`, false, hop.status);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Lower-cased header names; a User-Agent unless one is given. */
function normaliseHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  out["user-agent"] ??= DEFAULT_USER_AGENT;
  return out;
}

/**
 * Send one request under the rules above. Resolves with any HTTP status (the caller decides what
 * a 4xx/5xx means); throws GuardedRequestError for a refused address, a bad URL, a network
 * failure, the deadline, an oversized response or an outside abort.
 */
export async function guardedRequest(url: string, opts: GuardedRequestOptions): Promise<GuardedResponse> {
  const started = performance.now();
  const { timeoutMs, maxResponseBytes } = opts;
  const maxRedirects = opts.maxRedirects ?? 0;
  const policy = addressPolicy(opts);
  const lookup = opts.lookup ?? systemLookup;
  let req: HopRequest = {
    method: (opts.method ?? "GET").toUpperCase(),
    headers: normaliseHeaders(opts.headers),
    body: opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, "utf8"),
  };
  const fail = (
    err: Failure | null,
    kind: GuardedRequestErrorKind,
    reason: string,
    retryable: boolean,
    cause: unknown,
  ) =>
    new GuardedRequestError(kind, reason, {
      url: displayUrl(url),
      method: req.method,
      retryable,
      status: err?.status,
      cause,
    });

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onOuterAbort = () => controller.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  // DNS lookups cannot be cancelled; race them against the deadline.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(new Failure("aborted", "aborted")), { once: true });
  });
  aborted.catch(() => {});

  let current: URL | undefined;
  try {
    if (opts.signal?.aborted) throw new Failure("aborted", "aborted");
    try {
      current = new URL(url);
    } catch {
      throw new Failure("invalid_url", "not a valid URL");
    }
    for (let redirects = 0; ; redirects++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") {
        throw new Failure("invalid_url", `unsupported protocol ${current.protocol} (only http and https)`);
      }
      // Every hop (the first and each redirect target) is resolved and checked again.
      const pinned = await Promise.race([
        resolveAllowedAddress(current.hostname, policy, lookup).catch(asFailure),
        aborted,
      ]);
      const hop: Hop = await Promise.race([requestOnce(current, pinned, req, controller.signal), aborted]);
      if (REDIRECT_STATUSES.has(hop.status) && hop.location && redirects < maxRedirects) {
        hop.request.destroy();
        let next: URL;
        try {
          next = new URL(hop.location, current);
        } catch {
          throw new Failure("invalid_url", `invalid redirect location`);
        }
        req = redirectedRequest(req, hop.status, current, next);
        current = next;
        continue;
      }
      const ok = hop.status >= 200 && hop.status <= 299;
      let body: Buffer;
      if (ok || (opts.readBody ?? "all") === "all") {
        body = await readBody(hop, maxResponseBytes);
      } else {
        hop.request.destroy();
        body = Buffer.alloc(0);
      }
      return {
        status: hop.status,
        headers: { ...hop.response.headers },
        body,
        durationMs: Math.round(performance.now() - started),
        finalUrl: current.toString(),
        redirects,
      };
    }
  } catch (err) {
    if (timedOut)
      throw fail(err instanceof Failure ? err : null, "timeout", `timed out after ${timeoutMs} ms`, true, err);
    if (err instanceof Failure) throw fail(err, err.kind, err.message, err.retryable, err);
    if (controller.signal.aborted) throw fail(null, "aborted", "aborted", true, err);
    const netErr = err as NodeJS.ErrnoException;
    throw fail(null, "network", describeNetworkError(netErr), TRANSIENT_NETWORK_CODES.has(netErr.code ?? ""), err);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }
}

/** The request to send to a redirect target: method/body per RFC 9110, credentials kept same-origin only. */
function redirectedRequest(req: HopRequest, status: number, from: URL, to: URL): HopRequest {
  const headers = { ...req.headers };
  let { method, body } = req;
  if (
    status === 303 ? method !== "GET" && method !== "HEAD" : (status === 301 || status === 302) && method === "POST"
  ) {
    method = "GET";
    body = undefined;
    delete headers["content-type"];
  }
  if (from.origin !== to.origin) {
    delete headers["authorization"];
    delete headers["cookie"];
  }
  return { method, headers, body };
}
