// Output links without a server: the HMAC signature of the API's own /renders links (made,
// verified, refused when missing, edited or expired, on a clock the test holds), and which link
// createOutputLinks makes for each setting: public as before, signed by the API on local disk,
// the storage's own presigned URL when the storage can presign (the S3 backend's capability,
// played here by an object that implements it), and always the API for a deleted output.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { deriveLinkKey, signLink, verifyLink } from "../src/storage/link-signing.js";
import { canPresign, createOutputLinks, type Presigner } from "../src/storage/output-links.js";

const secretsKey = randomBytes(32);
const linkKey = deriveLinkKey(secretsKey);
const KEY = "clx_abcdefghij0123456789.png";
const NOW_S = 1_800_000_000;

const config = (env: Record<string, string> = {}) =>
  parseConfig({ PUBLIC_BASE_URL: "https://img.example.com/", ...env });
const query = (url: string) => Object.fromEntries(new URL(url).searchParams);

describe("link signatures", () => {
  it("verify for the key and expiry they signed, until that expiry", () => {
    const signature = signLink(linkKey, KEY, NOW_S + 60);
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyLink(linkKey, KEY, { expires: String(NOW_S + 60), signature }, NOW_S)).toBeNull();
    expect(verifyLink(linkKey, KEY, { expires: String(NOW_S + 60), signature }, NOW_S + 59)).toBeNull();
    expect(verifyLink(linkKey, KEY, { expires: String(NOW_S + 60), signature }, NOW_S + 60)).toBe("link expired");
  });

  it("refuse a missing, malformed or edited signature, an edited expiry, another key's link", () => {
    const expires = String(NOW_S + 60);
    const signature = signLink(linkKey, KEY, NOW_S + 60);
    expect(verifyLink(linkKey, KEY, {}, NOW_S)).toBe("signature missing");
    expect(verifyLink(linkKey, KEY, { expires }, NOW_S)).toBe("signature missing");
    expect(verifyLink(linkKey, KEY, { signature }, NOW_S)).toBe("signature missing");
    expect(verifyLink(linkKey, KEY, { expires, signature: "zz" }, NOW_S)).toBe("signature invalid");
    const flipped = (signature[0] === "0" ? "1" : "0") + signature.slice(1);
    expect(verifyLink(linkKey, KEY, { expires, signature: flipped }, NOW_S)).toBe("signature invalid");
    expect(verifyLink(linkKey, KEY, { expires: String(NOW_S + 6000), signature }, NOW_S)).toBe("signature invalid");
    expect(verifyLink(linkKey, KEY, { expires: "-1", signature }, NOW_S)).toBe("signature invalid");
    expect(verifyLink(linkKey, "clx_other0123456789.png", { expires, signature }, NOW_S)).toBe("signature invalid");
    expect(verifyLink(deriveLinkKey(randomBytes(32)), KEY, { expires, signature }, NOW_S)).toBe("signature invalid");
  });

  it("are made with a key derived from SECRETS_KEY, not SECRETS_KEY itself, and the same on every instance", () => {
    expect(linkKey.equals(secretsKey)).toBe(false);
    expect(deriveLinkKey(Buffer.from(secretsKey)).equals(linkKey)).toBe(true);
  });
});

describe("createOutputLinks", () => {
  it("public (the default): the API's /renders link as before, and nothing refused", async () => {
    const links = createOutputLinks({ config: config(), storage: {}, secretsKey });
    expect(await links.url(KEY)).toBe(`https://img.example.com/renders/${KEY}`);
    expect(await links.url(KEY, { deleted: true })).toBe(`https://img.example.com/renders/${KEY}`);
    expect(links.refusal(KEY, {})).toBeNull();
  });

  it("signed on local disk: the API's link with expires = now + OUTPUT_LINK_TTL_SECONDS and its signature", async () => {
    let nowMs = NOW_S * 1000;
    const links = createOutputLinks({
      config: config({ OUTPUT_LINKS: "signed", OUTPUT_LINK_TTL_SECONDS: "3600" }),
      storage: {},
      secretsKey,
      now: () => nowMs,
    });
    const url = await links.url(KEY);
    expect(url.startsWith(`https://img.example.com/renders/${KEY}?expires=${NOW_S + 3600}&signature=`)).toBe(true);
    expect(links.refusal(KEY, query(url))).toBeNull();
    expect(links.refusal(KEY, {})).toBe("signature missing");
    nowMs = (NOW_S + 3600) * 1000;
    expect(links.refusal(KEY, query(url))).toBe("link expired");
  });

  it("signed with a storage that presigns: its URL for the TTL; a deleted output still gets the API's signed link", async () => {
    const asked: [string, number][] = [];
    const s3like: Presigner = {
      presignGet: async (key, ttlSeconds) => {
        asked.push([key, ttlSeconds]);
        return `https://bucket.s3.example.com/${key}?X-Amz-Expires=${ttlSeconds}`;
      },
    };
    expect(canPresign(s3like)).toBe(true);
    expect(canPresign({ get: () => null })).toBe(false);
    const links = createOutputLinks({
      config: config({ OUTPUT_LINKS: "signed", OUTPUT_LINK_TTL_SECONDS: "900" }),
      storage: s3like,
      secretsKey,
      now: () => NOW_S * 1000,
    });
    expect(await links.url(KEY)).toBe(`https://bucket.s3.example.com/${KEY}?X-Amz-Expires=900`);
    expect(asked).toEqual([[KEY, 900]]);
    const gone = await links.url(KEY, { deleted: true });
    expect(gone.startsWith(`https://img.example.com/renders/${KEY}?expires=${NOW_S + 900}&signature=`)).toBe(true);
    expect(links.refusal(KEY, query(gone))).toBeNull();
    expect(asked).toHaveLength(1);
  });

  it("a public storage that could presign is not asked to when links are public", async () => {
    const s3like: Presigner = { presignGet: async () => expect.unreachable("presigned a public link") };
    const links = createOutputLinks({ config: config(), storage: s3like, secretsKey });
    expect(await links.url(KEY)).toBe(`https://img.example.com/renders/${KEY}`);
  });
});

describe("configuration", () => {
  it("names the variable when a link or retention setting is wrong", () => {
    expect(() => config({ OUTPUT_LINKS: "private" })).toThrow(/OUTPUT_LINKS/);
    expect(() => config({ OUTPUT_LINK_TTL_SECONDS: "604801" })).toThrow(/OUTPUT_LINK_TTL_SECONDS: at most 604800/);
    expect(() => config({ OUTPUT_LINK_TTL_SECONDS: "0" })).toThrow(/OUTPUT_LINK_TTL_SECONDS/);
    expect(() => config({ OUTPUT_RETENTION_DAYS: "0" })).toThrow(/OUTPUT_RETENTION_DAYS/);
    expect(() => config({ OUTPUT_RETENTION_DAYS: "1.5" })).toThrow(/OUTPUT_RETENTION_DAYS/);
    expect(() => config({ OUTPUT_RETENTION_INTERVAL_MS: "10" })).toThrow(/OUTPUT_RETENTION_INTERVAL_MS/);
    expect(config()).toMatchObject({ OUTPUT_LINKS: "public", OUTPUT_LINK_TTL_SECONDS: 604_800 });
    expect(config().OUTPUT_RETENTION_DAYS).toBeUndefined();
  });
});
