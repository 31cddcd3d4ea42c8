// Guarded outbound HTTP for URLs that users control (image layers, webhooks, delivery endpoints):
// the one client every such request goes through (SSRF protection).
//
// - http/https only; at most `maxRedirects` redirects (default 0: not followed), each hop
//   re-checked. A redirect beyond the budget is returned as the response, for the caller to judge.
// - DNS is resolved here and every address is classified; unless allowPrivateNetworks is set,
//   loopback/private/link-local/CGNAT/multicast/reserved/... addresses are refused (IPv4-mapped and
//   other IPv4-embedding IPv6 forms are unwrapped first). `allowAddresses` lets exact addresses
//   through (an intranet asset server); `lookup` replaces the resolver (its answers are checked too).
// - The socket connects to the address that was checked: http(s).request gets a `lookup` that
//   returns it, so a second (rebinding) DNS answer can never be used. No keep-alive agent either.
// - One deadline for the whole exchange (DNS, connect, redirects, body), and a byte cap on the
//   response checked against Content-Length up front and while streaming.
// - Any HTTP status resolves; refusals and transport failures throw GuardedRequestError.
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";

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
    super(`${details.method} ${details.url}: ${reason}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.url = details.url;
    this.retryable = details.retryable;
    this.status = details.status;
  }
}

export function isGuardedRequestError(err: unknown): err is GuardedRequestError {
  return err instanceof GuardedRequestError;
}

// ---------------------------------------------------------------------------------------------
// Address classification

type Cidr4 = readonly [base: number, bits: number];

function v4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

// Everything that is not ordinary public unicast (IANA IPv4 special-purpose registry, roughly).
const BLOCKED_V4: readonly Cidr4[] = [
  [v4(0, 0, 0, 0), 8], // "this network", unspecified
  [v4(10, 0, 0, 0), 8], // private
  [v4(100, 64, 0, 0), 10], // CGNAT shared address space
  [v4(127, 0, 0, 0), 8], // loopback
  [v4(169, 254, 0, 0), 16], // link-local (cloud metadata lives here)
  [v4(172, 16, 0, 0), 12], // private
  [v4(192, 0, 0, 0), 24], // IETF protocol assignments
  [v4(192, 0, 2, 0), 24], // TEST-NET-1
  [v4(192, 88, 99, 0), 24], // 6to4 relay anycast (deprecated)
  [v4(192, 168, 0, 0), 16], // private
  [v4(198, 18, 0, 0), 15], // benchmarking
  [v4(198, 51, 100, 0), 24], // TEST-NET-2
  [v4(203, 0, 113, 0), 24], // TEST-NET-3
  [v4(224, 0, 0, 0), 4], // multicast
  [v4(240, 0, 0, 0), 4], // reserved, and 255.255.255.255 broadcast
];

function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

function isPublicIPv4(n: number): boolean {
  for (const [base, bits] of BLOCKED_V4) {
    const shift = 32 - bits;
    if (Math.floor(n / 2 ** shift) === Math.floor(base / 2 ** shift)) return false;
  }
  return true;
}

/** Eight 16-bit groups, or null. Accepts "::", embedded dotted IPv4 and a %zone suffix. */
function parseIPv6(text: string): number[] | null {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  if (isIP(s) !== 6) return null;
  // Replace a trailing dotted IPv4 by two hex groups.
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  if (tail.includes(".")) {
    const n = parseIPv4(tail);
    if (n === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<string>(missing).fill("0"), ...rest].map((g) => Number.parseInt(g, 16));
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  return groups;
}

function isPublicIPv6(g: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embeddedV4 = ((g6 << 16) | g7) >>> 0;
  // ::ffff:a.b.c.d (IPv4-mapped) and ::ffff:0:a.b.c.d (IPv4-translated): judge the IPv4 address.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) {
    if ((g4 === 0 && g5 === 0xffff) || (g4 === 0xffff && g5 === 0)) return isPublicIPv4(embeddedV4);
    return false; // ::, ::1, IPv4-compatible ::a.b.c.d and the rest of ::/64
  }
  // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isPublicIPv4(embeddedV4);
  // Only global unicast 2000::/3 is public; this excludes fc00::/7 (ULA), fe80::/10 (link-local),
  // fec0::/10 (site-local), ff00::/8 (multicast), 100::/64 (discard), 64:ff9b:1::/48 (local NAT64).
  if ((g0 & 0xe000) !== 0x2000) return false;
  if (g0 === 0x2001 && g1 < 0x0200) return false; // 2001::/23 IETF special purpose (Teredo, ORCHID, ...)
  if (g0 === 0x2001 && g1 === 0x0db8) return false; // documentation
  if (g0 === 0x3fff && g1 < 0x1000) return false; // 3fff::/20 documentation
  if (g0 === 0x2002) return isPublicIPv4(((g1 << 16) | g2) >>> 0); // 6to4 embeds an IPv4 address
  return true;
}

/** True when `ip` (IPv4 or IPv6 literal) is ordinary public unicast. Unparseable input is not public. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip.split("%")[0] ?? "");
  if (family === 4) {
    const n = parseIPv4(ip);
    return n !== null && isPublicIPv4(n);
  }
  const groups = parseIPv6(ip);
  return groups !== null && isPublicIPv6(groups);
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

function stripBrackets(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

/** Canonical text of an IP literal (so "::FFFF:7F00:1" and "::ffff:127.0.0.1" compare equal), or "". */
function canonicalIp(ip: string): string {
  const host = stripBrackets(ip.split("%")[0] ?? "");
  if (isIP(host) === 4) {
    const n = parseIPv4(host);
    return n === null ? "" : `v4:${n}`;
  }
  const groups = parseIPv6(host);
  if (!groups) return "";
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  // IPv4-mapped addresses are the IPv4 address.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return `v4:${((g6 << 16) | g7) >>> 0}`;
  return `v6:${groups.join(":")}`;
}

// ---------------------------------------------------------------------------------------------
// Requests

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

interface AddressPolicy {
  allowPrivate: boolean;
  allowed: ReadonlySet<string>;
}

function addressAllowed(ip: string, policy: AddressPolicy): boolean {
  return policy.allowPrivate || isPublicAddress(ip) || (policy.allowed.size > 0 && policy.allowed.has(canonicalIp(ip)));
}

const systemLookup = (host: string) => dnsLookup(host, { all: true, verbatim: true });

async function resolveChecked(
  hostname: string,
  policy: AddressPolicy,
  lookup: (hostname: string) => Promise<LookupAddress[]>,
): Promise<LookupAddress> {
  const host = stripBrackets(hostname);
  const literal = isIP(host);
  if (literal) {
    if (!addressAllowed(host, policy)) throw new Failure("blocked_address", `address ${host} is not public`);
    return { address: host, family: literal };
  }
  let addresses: LookupAddress[];
  try {
    addresses = await lookup(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const notFound = code === "ENOTFOUND" || code === "ENODATA";
    const reason = notFound ? "host not found" : `DNS lookup failed (${code ?? "error"})`;
    throw new Failure("network", `${reason}: ${host}`, !notFound);
  }
  if (addresses.length === 0) throw new Failure("network", `host not found: ${host}`);
  if (policy.allowPrivate) return addresses[0]!;
  const usable = addresses.find((a) => addressAllowed(a.address, policy));
  if (!usable) {
    throw new Failure("blocked_address", `address ${addresses[0]!.address} is not public (resolved from ${host})`);
  }
  return usable;
}

function pinnedLookup(pinned: LookupAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  }) as unknown as LookupFunction;
}

const TRANSIENT_NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]);

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
    throw new Failure("too_large", `response is ${declared} bytes, more than the ${maxBytes}-byte limit`, false, hop.status);
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
  const policy: AddressPolicy = {
    allowPrivate: opts.allowPrivateNetworks,
    allowed: new Set((opts.allowAddresses ?? []).map(canonicalIp).filter((a) => a !== "")),
  };
  const lookup = opts.lookup ?? systemLookup;
  let req: HopRequest = {
    method: (opts.method ?? "GET").toUpperCase(),
    headers: normaliseHeaders(opts.headers),
    body: opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, "utf8"),
  };
  const fail = (err: Failure | null, kind: GuardedRequestErrorKind, reason: string, retryable: boolean, cause: unknown) =>
    new GuardedRequestError(kind, reason, { url: displayUrl(url), method: req.method, retryable, status: err?.status, cause });

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
      const pinned = await Promise.race([resolveChecked(current.hostname, policy, lookup), aborted]);
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
    if (timedOut) throw fail(err instanceof Failure ? err : null, "timeout", `timed out after ${timeoutMs} ms`, true, err);
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
  if (status === 303 ? method !== "GET" && method !== "HEAD" : (status === 301 || status === 302) && method === "POST") {
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
