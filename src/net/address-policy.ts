// Which addresses outbound requests to user-controlled URLs may reach (SSRF protection): only
// ordinary public unicast, unless the operator allows private networks (tests, intranets) or names
// exact addresses. Refused: loopback, private ranges, link-local (cloud metadata), CGNAT,
// multicast, documentation and other reserved ranges; IPv6 forms that embed an IPv4 address
// (mapped, translated, NAT64, 6to4) are judged by that IPv4 address. A host name is resolved here
// and every answer is checked; the caller connects to the address this returns, never to a second
// DNS answer (src/net/guarded-http.ts pins it).
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import { isIP } from "node:net";

/** A refused address, or a name that did not resolve. */
export class AddressCheckError extends Error {
  constructor(
    readonly kind: "blocked_address" | "network",
    message: string,
    /** True when the same lookup may succeed later (a DNS failure other than "not found"). */
    readonly retryable = false,
  ) {
    super(message);
  }
}

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

export function stripBrackets(hostname: string): string {
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

/** What one request may reach; build it with addressPolicy. */
export interface AddressPolicy {
  allowPrivate: boolean;
  /** Canonical forms (canonicalIp) of the addresses allowed although not public. */
  allowed: ReadonlySet<string>;
}

export function addressPolicy(opts: {
  allowPrivateNetworks: boolean;
  allowAddresses?: readonly string[] | undefined;
}): AddressPolicy {
  return {
    allowPrivate: opts.allowPrivateNetworks,
    allowed: new Set((opts.allowAddresses ?? []).map(canonicalIp).filter((a) => a !== "")),
  };
}

function addressAllowed(ip: string, policy: AddressPolicy): boolean {
  return policy.allowPrivate || isPublicAddress(ip) || (policy.allowed.size > 0 && policy.allowed.has(canonicalIp(ip)));
}

/** The system resolver, every address (IPv4 and IPv6) in its order. */
export const systemLookup = (host: string) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The address to connect to for `hostname` (an IP literal, or a name resolved with `lookup`):
 * the first answer the policy allows. Throws AddressCheckError when none is allowed or the name
 * does not resolve.
 */
export async function resolveAllowedAddress(
  hostname: string,
  policy: AddressPolicy,
  lookup: (hostname: string) => Promise<LookupAddress[]> = systemLookup,
): Promise<LookupAddress> {
  const host = stripBrackets(hostname);
  const literal = isIP(host);
  if (literal) {
    if (!addressAllowed(host, policy)) throw new AddressCheckError("blocked_address", `address ${host} is not public`);
    return { address: host, family: literal };
  }
  let addresses: LookupAddress[];
  try {
    addresses = await lookup(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const notFound = code === "ENOTFOUND" || code === "ENODATA";
    const reason = notFound ? "host not found" : `DNS lookup failed (${code ?? "error"})`;
    throw new AddressCheckError("network", `${reason}: ${host}`, !notFound);
  }
  if (addresses.length === 0) throw new AddressCheckError("network", `host not found: ${host}`);
  if (policy.allowPrivate) return addresses[0]!;
  const usable = addresses.find((a) => addressAllowed(a.address, policy));
  if (!usable) {
    throw new AddressCheckError(
      "blocked_address",
      `address ${addresses[0]!.address} is not public (resolved from ${host})`,
    );
  }
  return usable;
}
