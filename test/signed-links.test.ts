// OUTPUT_LINKS=signed on the local-disk backend, over real HTTP, PostgreSQL and Redis: the job
// view carries a link with an expiry and an HMAC signature; that link serves the image; a link
// without a signature, with an edited one, or past its expiry answers 403 with a JSON error,
// and never says whether the output exists. An expired link is forged by signing a past expiry
// with the server's own derived key: no clock is waited on.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveLinkKey, signLink } from "../src/storage/link-signing.js";
import { smallTemplate } from "./helpers/domain.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let apiKey: string;
let done: { job_id: string; status: string; output_url: string };

beforeAll(async () => {
  stack = await startStack({ OUTPUT_LINKS: "signed", OUTPUT_LINK_TTL_SECONDS: "600" });
  ({ apiKey } = await stack.createOrg(100));
  const tpl = await stack.api(apiKey, "POST", "/api/v1/templates", smallTemplate());
  const accepted = await stack.api(apiKey, "POST", "/api/v1/create", { template_id: tpl.body.template_id });
  expect(accepted.status).toBe(202);
  done = await waitForFinal(stack, apiKey, accepted.body.job_id);
  expect(done.status).toBe("complete");
});
afterAll(() => stack?.stop());

const keyOf = (jobId: string) => `${jobId}.png`;
const get = async (url: string) => {
  const res = await fetch(url);
  const type = res.headers.get("content-type") ?? "";
  return {
    status: res.status,
    headers: res.headers,
    body: type.includes("json") ? await res.json() : Buffer.from(await res.arrayBuffer()),
  };
};

describe("signed output links (local disk)", () => {
  it("the view's output_url is the API's link with expires (now + TTL) and a signature, and serves the image", async () => {
    const url = new URL(done.output_url);
    expect(`${url.origin}${url.pathname}`).toBe(
      `${stack.app.ctx.config.PUBLIC_BASE_URL}/renders/${keyOf(done.job_id)}`,
    );
    const expires = Number(url.searchParams.get("expires"));
    const nowS = Math.floor(Date.now() / 1000);
    expect(expires).toBeGreaterThan(nowS + 500);
    expect(expires).toBeLessThanOrEqual(nowS + 600);
    expect(url.searchParams.get("signature")).toMatch(/^[0-9a-f]{64}$/);
    const res = await get(done.output_url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    // Cached no longer than the link lives.
    expect(res.headers.get("cache-control")).toMatch(/^private, max-age=\d+$/);
    expect((await sharp(res.body as Buffer).metadata()).width).toBe(40);
  });

  it("each poll gives a link that works (fresh expiry)", async () => {
    const again = await stack.api(apiKey, "GET", `/api/v1/create/${done.job_id}`);
    expect((await get(again.body.output_url)).status).toBe(200);
  });

  it("answers 403 JSON without a signature, with an edited one, or with an edited expiry", async () => {
    const url = new URL(done.output_url);
    const bare = `${url.origin}${url.pathname}`;
    const missing = await get(bare);
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual({ error: "signature missing" });

    const sig = url.searchParams.get("signature")!;
    const tampered = new URL(url);
    tampered.searchParams.set("signature", (sig[0] === "a" ? "b" : "a") + sig.slice(1));
    expect(await get(tampered.toString())).toMatchObject({ status: 403, body: { error: "signature invalid" } });

    const longer = new URL(url);
    longer.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 86_400));
    expect(await get(longer.toString())).toMatchObject({ status: 403, body: { error: "signature invalid" } });

    // Another job's valid signature does not open this one.
    const other = new URL(url);
    other.pathname = other.pathname.replace(done.job_id, "clx_aaaaaaaaaaaaaaaaaaaaaaaa");
    expect(await get(other.toString())).toMatchObject({ status: 403, body: { error: "signature invalid" } });
  });

  it("answers 403 'link expired' for a correctly signed link past its expiry", async () => {
    const linkKey = deriveLinkKey(stack.app.ctx.secretsKey);
    const past = Math.floor(Date.now() / 1000) - 1;
    const key = keyOf(done.job_id);
    const url = `${stack.baseUrl}/renders/${key}?expires=${past}&signature=${signLink(linkKey, key, past)}`;
    expect(await get(url)).toMatchObject({ status: 403, body: { error: "link expired" } });
  });

  it("an unsigned request for an output that never existed is 403 too: nothing is told without a signature", async () => {
    expect((await get(`${stack.baseUrl}/renders/clx_nothinghere0000000000.png`)).status).toBe(403);
    // Not an output key at all: 404 as before.
    expect((await get(`${stack.baseUrl}/renders/fonts%2Ffnt_abcdefghij01.ttf`)).status).toBe(404);
  });
});
