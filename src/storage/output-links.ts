// How a job's output_url is made, apart from where outputs are stored (src/storage/storage.ts):
// OUTPUT_LINKS=public gives `${PUBLIC_BASE_URL}/renders/<key>` (the unguessable key is the
// capability; the link never expires); OUTPUT_LINKS=signed gives links that expire after
// OUTPUT_LINK_TTL_SECONDS: the storage's own presigned URL when it can make one (S3), else the
// API's /renders link with an HMAC signature (src/storage/link-signing.ts) that the route checks.
import type { Config } from "../config.js";
import { apiFileUrl } from "./storage.js";
import { deriveLinkKey, signLink, verifyLink, type LinkRefusal } from "./link-signing.js";

/** A storage that makes its own expiring download links (the S3 backend). */
export interface Presigner {
  presignGet(key: string, ttlSeconds: number): Promise<string>;
}

// An optional capability rather than a method of Storage: the local disk has no such thing.
export const canPresign = (storage: object): storage is Presigner =>
  typeof (storage as Partial<Presigner>).presignGet === "function";

export interface OutputLinks {
  /**
   * The link to the output at `key`. `deleted`: the retention sweep removed it; the link then
   * always points at the API (never at the object store), whose /renders route answers 410.
   */
  url(key: string, opts?: { deleted?: boolean }): Promise<string>;
  /** Whether a GET of /renders/<key> with this query may read the output: null, or why not (403). */
  refusal(key: string, query: { expires?: string | undefined; signature?: string | undefined }): LinkRefusal | null;
}

export interface OutputLinksOptions {
  config: Pick<Config, "PUBLIC_BASE_URL" | "OUTPUT_LINKS" | "OUTPUT_LINK_TTL_SECONDS">;
  storage: object;
  secretsKey: Buffer;
  /** Milliseconds since the epoch; tests pass a clock of their own. */
  now?: () => number;
}

export function createOutputLinks({ config, storage, secretsKey, now = Date.now }: OutputLinksOptions): OutputLinks {
  const apiLink = (key: string) => apiFileUrl(config.PUBLIC_BASE_URL, key);
  if (config.OUTPUT_LINKS === "public") {
    return { url: async (key) => apiLink(key), refusal: () => null };
  }
  const linkKey = deriveLinkKey(secretsKey);
  const ttl = config.OUTPUT_LINK_TTL_SECONDS;
  const signed = (key: string) => {
    const expires = Math.floor(now() / 1000) + ttl;
    return `${apiLink(key)}?expires=${expires}&signature=${signLink(linkKey, key, expires)}`;
  };
  const presigner = canPresign(storage) ? storage : null;
  return {
    url: async (key, opts = {}) => (presigner && !opts.deleted ? presigner.presignGet(key, ttl) : signed(key)),
    refusal: (key, query) => verifyLink(linkKey, key, query, Math.floor(now() / 1000)),
  };
}
