// Guarded fetching of user-supplied image URLs (SSRF protection).
//
// - http/https only; at most `maxRedirects` redirects, each hop re-checked.
// - DNS is resolved here and every address is classified; unless allowPrivateNetworks is set,
//   loopback/private/link-local/CGNAT/multicast/reserved/... addresses are refused (IPv4-mapped and
//   other IPv4-embedding IPv6 forms are unwrapped first). `allowAddresses` lets exact addresses
//   through (an intranet asset server); `lookup` replaces the resolver (its answers are checked too).
// - The socket connects to the address that was checked: http(s).request gets a `lookup` that
//   returns it, so a second (rebinding) DNS answer can never be used. No keep-alive agent either.
// - One deadline for the whole fetch (DNS, connect, redirects, body), a byte cap checked against
//   Content-Length up front and while streaming, and non-2xx is an error.
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { RenderError } from "./errors.js";

export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 3;
const USER_AGENT = "Templified-Renderer/0.1 (+https://github.com/templified)";

export interface FetchImageOptions {
  /** Allow loopback/private/link-local/... addresses (tests, self-hosted intranets). Default false. */
  allowPrivateNetworks?: boolean;
  /** Deadline for the whole fetch, redirects and body included. Default 10 000 ms. */
  timeoutMs?: number;
  /** Maximum body size in bytes. Default 20 MiB. */
  maxBytes?: number;
  /** Default 3. */
  maxRedirects?: number;
  /** Prefix for error messages, e.g. `image layer "photo"`. */
  label?: string;
  /** Abort from outside (e.g. another layer already failed). */
  signal?: AbortSignal;
  /**
   * Addresses allowed even though they are not public (exact IPv4/IPv6 literals, e.g. an
   * intranet asset server), when allowPrivateNetworks is off. Every other address stays refused.
   */
  allowAddresses?: readonly string[];
  /** Name resolution (default: the system resolver, all addresses). Every answer is still checked. */
  lookup?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface FetchedImage {
  body: Buffer;
  /** The URL the body came from (after redirects). */
  finalUrl: string;
  contentType: string | undefined;
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

// ---------------------------------------------------------------------------------------------
// Fetching

class FetchFailure extends Error {
  constructor(
    readonly code: "IMAGE_FETCH_FAILED" | "IMAGE_TOO_LARGE",
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

const TRANSIENT_NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]);

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
  const allowPrivate = policy.allowPrivate;
  const host = stripBrackets(hostname);
  const literal = isIP(host);
  if (literal) {
    if (!addressAllowed(host, policy)) throw new FetchFailure("IMAGE_FETCH_FAILED", `address ${host} is not public`);
    return { address: host, family: literal };
  }
  let addresses: LookupAddress[];
  try {
    addresses = await lookup(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const notFound = code === "ENOTFOUND" || code === "ENODATA";
    const reason = notFound ? "host not found" : `DNS lookup failed (${code ?? "error"})`;
    throw new FetchFailure("IMAGE_FETCH_FAILED", `${reason}: ${host}`, !notFound);
  }
  if (addresses.length === 0) throw new FetchFailure("IMAGE_FETCH_FAILED", `host not found: ${host}`);
  if (allowPrivate) return addresses[0]!;
  const usable = addresses.find((a) => addressAllowed(a.address, policy));
  if (!usable) {
    throw new FetchFailure("IMAGE_FETCH_FAILED", `address ${addresses[0]!.address} is not public (resolved from ${host})`);
  }
  return usable;
}

function pinnedLookup(pinned: LookupAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  }) as unknown as LookupFunction;
}

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

function requestOnce(url: URL, pinned: LookupAddress, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const isHttps = url.protocol === "https:";
    const hostname = stripBrackets(url.hostname);
    const options: https.RequestOptions = {
      protocol: url.protocol,
      hostname,
      port: url.port || (isHttps ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: "GET",
      headers: { "user-agent": USER_AGENT, accept: "image/*,*/*;q=0.5" },
      agent: false, // a pooled socket could be connected to an address checked under other rules
      lookup: pinnedLookup(pinned),
      signal,
    };
    if (isHttps && !isIP(hostname)) options.servername = hostname;
    const request: http.ClientRequest = (isHttps ? https : http).request(options, (response) => {
      resolve({ status: response.statusCode ?? 0, location: response.headers.location, response, request });
    });
    request.on("error", reject);
    request.end();
  });
}

async function readBody(hop: Hop, maxBytes: number): Promise<Buffer> {
  const declared = hop.response.headers["content-length"];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    hop.request.destroy();
    throw new FetchFailure("IMAGE_TOO_LARGE", `response is ${declared} bytes, more than the ${maxBytes}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of hop.response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      hop.request.destroy();
      throw new FetchFailure("IMAGE_TOO_LARGE", `response is more than the ${maxBytes}-byte limit`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Fetch an image URL under the rules above. Throws RenderError with code IMAGE_FETCH_FAILED or
 * IMAGE_TOO_LARGE and a message such as
 * `image layer "photo": could not fetch https://example.com/a.png: HTTP 404`.
 */
export async function fetchImage(url: string, options: FetchImageOptions = {}): Promise<FetchedImage> {
  const allowPrivate = options.allowPrivateNetworks ?? false;
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const policy: AddressPolicy = {
    allowPrivate,
    allowed: new Set((options.allowAddresses ?? []).map(canonicalIp).filter((a) => a !== "")),
  };
  const lookup = options.lookup ?? systemLookup;
  const prefix = `${options.label ? `${options.label}: ` : ""}could not fetch ${displayUrl(url)}`;

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onOuterAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  // DNS lookups cannot be cancelled; race them against the deadline.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(new FetchFailure("IMAGE_FETCH_FAILED", "aborted")), { once: true });
  });
  aborted.catch(() => {});

  let current: URL | undefined;
  try {
    if (options.signal?.aborted) throw new FetchFailure("IMAGE_FETCH_FAILED", "aborted");
    try {
      current = new URL(url);
    } catch {
      throw new FetchFailure("IMAGE_FETCH_FAILED", "not a valid URL");
    }
    for (let redirects = 0; ; redirects++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") {
        throw new FetchFailure("IMAGE_FETCH_FAILED", `unsupported protocol ${current.protocol} (only http and https)`);
      }
      // Every hop (the first and each redirect target) is resolved and checked again.
      const pinned = await Promise.race([resolveChecked(current.hostname, policy, lookup), aborted]);
      const hop: Hop = await Promise.race([requestOnce(current, pinned, controller.signal), aborted]);
      if (REDIRECT_STATUSES.has(hop.status) && hop.location) {
        hop.request.destroy();
        if (redirects >= maxRedirects) throw new FetchFailure("IMAGE_FETCH_FAILED", `more than ${maxRedirects} redirects`);
        try {
          current = new URL(hop.location, current);
        } catch {
          throw new FetchFailure("IMAGE_FETCH_FAILED", `invalid redirect location`);
        }
        continue;
      }
      if (hop.status < 200 || hop.status > 299) {
        hop.request.destroy();
        const via = redirects > 0 ? ` (from ${displayUrl(current)})` : "";
        const transient = hop.status >= 500 || hop.status === 408 || hop.status === 429;
        throw new FetchFailure("IMAGE_FETCH_FAILED", `HTTP ${hop.status}${via}`, transient);
      }
      const body = await readBody(hop, maxBytes);
      const contentType = hop.response.headers["content-type"];
      return { body, finalUrl: current.toString(), contentType };
    }
  } catch (err) {
    if (timedOut) {
      throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: timed out after ${timeoutMs} ms`, { cause: err, retryable: true });
    }
    if (err instanceof FetchFailure) throw new RenderError(err.code, `${prefix}: ${err.message}`, { cause: err, retryable: err.retryable });
    if (controller.signal.aborted) throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: aborted`, { cause: err, retryable: true });
    const netErr = err as NodeJS.ErrnoException;
    throw new RenderError("IMAGE_FETCH_FAILED", `${prefix}: ${describeNetworkError(netErr)}`, {
      cause: err,
      retryable: TRANSIENT_NETWORK_CODES.has(netErr.code ?? ""),
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
}
