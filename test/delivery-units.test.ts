// Delivery building blocks against real local servers (no mocks): Standard Webhooks signing,
// secret encryption, the send_to destinations (Dropbox, webhook, GFcrew), signed webhook events,
// the retry schedule and the guarded client they all use.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret, maskSecret, parseEncryptionKey } from "../src/delivery/crypto.js";
import { DestinationError, sendFile, type DeliveryFile } from "../src/delivery/destinations/index.js";
import { SendTo, type DirectSendTo } from "../src/views/send-to.js";
import { dropboxTargetPath } from "../src/delivery/destinations/dropbox.js";
import { parseRetryAfter } from "../src/delivery/outbound.js";
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from "../src/delivery/retry-schedule.js";
import { postWebhookEvent } from "../src/delivery/webhook-events.js";
import {
  generateWebhookSecret,
  signPayload,
  verifyWebhook,
  webhookHeaders,
  WebhookVerificationError,
} from "../src/delivery/signing.js";
import { guardedRequest, GuardedRequestError } from "../src/net/guarded-http.js";
import {
  dropboxContentHash,
  startFakeDropbox,
  startFakeGfcrew,
  startWebhookReceiver,
  type FakeDropbox,
  type FakeGfcrew,
  type WebhookReceiver,
} from "./helpers/fake-destinations.js";

// A 1x1 PNG is enough: destinations never look inside the bytes.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const file = (over: Partial<DeliveryFile> = {}): DeliveryFile => ({
  bytes: PNG,
  contentType: "image/png",
  filename: "banner.png",
  jobId: "job_123",
  metadata: { template_id: "tpl_9", width: 1200, height: 630 },
  ...over,
});
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("Standard Webhooks signing", () => {
  // The published test vector of the Standard Webhooks reference libraries.
  const SPEC = {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    ts: 1614265330,
    body: '{"test": 2432232314}',
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };

  it("reproduces the spec's test vector and verifies it", () => {
    expect(signPayload([SPEC.secret], SPEC.id, SPEC.ts, SPEC.body)).toBe(SPEC.signature);
    expect(signPayload([SPEC.secret], SPEC.id, SPEC.ts, Buffer.from(SPEC.body))).toBe(SPEC.signature);
    const headers = webhookHeaders([SPEC.secret], SPEC.id, SPEC.ts, SPEC.body);
    expect(headers).toEqual({
      "webhook-id": SPEC.id,
      "webhook-timestamp": "1614265330",
      "webhook-signature": SPEC.signature,
    });
    verifyWebhook(SPEC.secret, headers, SPEC.body, { nowSeconds: SPEC.ts });
    // A Fetch Headers object, mixed-case names, the prefix-less secret, several signatures.
    verifyWebhook(
      SPEC.secret.slice(6),
      new Headers({
        "Webhook-Id": SPEC.id,
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": `v1,bm9wZQ== v2,abc ${SPEC.signature}`,
      }),
      SPEC.body,
      { nowSeconds: SPEC.ts + 299 },
    );
  });

  it("generates whsec_ secrets of 24 random bytes", () => {
    const a = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(a.slice(6), "base64")).toHaveLength(24);
    expect(generateWebhookSecret()).not.toBe(a);
  });

  it("refuses old, future, tampered and unsigned messages with a clear reason", () => {
    const secret = generateWebhookSecret();
    const body = Buffer.from(JSON.stringify({ type: "job.completed", data: { id: "job_1" } }));
    const ts = nowSeconds();
    const headers = webhookHeaders([secret], "msg_1", ts, body);
    verifyWebhook(secret, headers, body);
    verifyWebhook(secret, headers, body.toString()); // string and Buffer bodies are the same bytes

    const fails = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(WebhookVerificationError);
        return (e as Error).message;
      }
      throw new Error("expected verification to fail");
    };
    expect(fails(() => verifyWebhook(secret, webhookHeaders([secret], "msg_1", ts - 301, body), body))).toMatch(
      /^timestamp too old/,
    );
    expect(fails(() => verifyWebhook(secret, webhookHeaders([secret], "msg_1", ts + 301, body), body))).toMatch(
      /^timestamp too new/,
    );
    expect(fails(() => verifyWebhook(secret, headers, Buffer.concat([body, Buffer.from(" ")])))).toBe(
      "no matching signature",
    );
    expect(fails(() => verifyWebhook(secret, { ...headers, "webhook-id": "msg_2" }, body))).toBe(
      "no matching signature",
    );
    expect(fails(() => verifyWebhook(generateWebhookSecret(), headers, body))).toBe("no matching signature");
    expect(fails(() => verifyWebhook(secret, { "webhook-id": "msg_1" }, body))).toBe(
      "missing headers webhook-timestamp, webhook-signature",
    );
    expect(
      fails(() =>
        verifyWebhook(
          secret,
          { ...headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,") },
          body,
        ),
      ),
    ).toBe("no matching signature");
    // A custom tolerance.
    verifyWebhook(secret, webhookHeaders([secret], "msg_1", ts - 500, body), body, { toleranceSeconds: 600 });
  });

  it("signs with every secret during rotation; either one verifies", () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const body = '{"a":1}';
    const signature = signPayload([oldSecret, newSecret], "msg_r", nowSeconds(), body);
    expect(signature.split(" ")).toHaveLength(2);
    const headers = {
      "webhook-id": "msg_r",
      "webhook-timestamp": String(nowSeconds()),
      "webhook-signature": signature,
    };
    verifyWebhook(oldSecret, headers, body);
    verifyWebhook(newSecret, headers, body);
    expect(() => verifyWebhook(generateWebhookSecret(), headers, body)).toThrow("no matching signature");
    expect(() => signPayload([], "msg_r", 1, body)).toThrow(/no webhook signing secret/);
  });
});

describe("secret encryption", () => {
  const key = parseEncryptionKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

  it("round-trips with a fresh IV each time", () => {
    const a = encryptSecret("sl.ABCDEFGHIJ-token-ü", key);
    const b = encryptSecret("sl.ABCDEFGHIJ-token-ü", key);
    expect(a).toMatch(/^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(decryptSecret(a, key)).toBe("sl.ABCDEFGHIJ-token-ü");
    expect(decryptSecret(b, key)).toBe("sl.ABCDEFGHIJ-token-ü");
  });

  it("detects tampering and a wrong key", () => {
    const enc = encryptSecret("secret value", key);
    const [v, iv, tag, data] = enc.split(":") as [string, string, string, string];
    const flipped = Buffer.from(data, "base64");
    flipped[0] = flipped[0]! ^ 1;
    expect(() => decryptSecret([v, iv, tag, flipped.toString("base64")].join(":"), key)).toThrow(/tampered/);
    const otherTag = Buffer.from(tag, "base64");
    otherTag[3] = otherTag[3]! ^ 0x80;
    expect(() => decryptSecret([v, iv, otherTag.toString("base64"), data].join(":"), key)).toThrow(/tampered/);
    expect(() => decryptSecret(enc, Buffer.alloc(32, 7))).toThrow(/wrong key/);
    expect(() => decryptSecret("v2:a:b:c", key)).toThrow(/unknown format/);
  });

  it("parses keys as hex or base64 and refuses anything else", () => {
    const b64 = Buffer.alloc(32, 9).toString("base64");
    expect(parseEncryptionKey(b64)).toEqual(Buffer.alloc(32, 9));
    expect(parseEncryptionKey(Buffer.alloc(32, 0xfb).toString("base64url"))).toEqual(Buffer.alloc(32, 0xfb));
    expect(parseEncryptionKey("ab".repeat(32))).toEqual(Buffer.alloc(32, 0xab));
    expect(() => parseEncryptionKey(Buffer.alloc(16).toString("base64"))).toThrow(/decodes to 16 bytes, expected 32/);
    expect(() => parseEncryptionKey("not a key!")).toThrow(/expected 32 bytes as base64 or 64 hex characters/);
    expect(() => encryptSecret("x", Buffer.alloc(16))).toThrow(/must be 32 bytes/);
  });

  it("masks secrets without ever showing them whole", () => {
    expect(maskSecret("sl.ABCDEFGHIJKLMNOP9xQz")).toBe("sl.A…9xQz");
    expect(maskSecret("abcdefghijkl")).toBe("ab…kl");
    expect(maskSecret("short")).toBe("…");
    expect(maskSecret("")).toBe("…");
  });
});

describe("send_to schema", () => {
  it("parses each destination type, with defaults", () => {
    expect(SendTo.parse({ type: "dropbox", access_token: "t", path: "/renders" })).toEqual({
      type: "dropbox",
      access_token: "t",
      path: "/renders",
      mode: "add",
    });
    expect(SendTo.parse({ type: "webhook", url: "https://example.com/hook" }).type).toBe("webhook");
    expect(
      SendTo.parse({ type: "gfcrew", endpoint: "https://gfcrew.example/api/assets", api_key: "k", tags: ["a"] }).type,
    ).toBe("gfcrew");
    expect(SendTo.parse({ type: "preset", preset_id: "pre_1" }).type).toBe("preset");
  });

  it("refuses bad input with field paths", () => {
    const issues = (v: unknown) =>
      SendTo.safeParse(v).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(issues({ type: "dropbox", access_token: "t", path: "renders" })).toEqual(['path: must start with "/"']);
    expect(issues({ type: "dropbox", access_token: "t", path: "/r", mode: "replace" })[0]).toMatch(/^mode: /);
    expect(issues({ type: "webhook", url: "ftp://example.com/x" })).toEqual(["url: must be an http(s) URL"]);
    expect(issues({ type: "gfcrew", endpoint: "https://x.example", api_key: "" })[0]).toMatch(/^api_key: /);
    expect(issues({ type: "s3" })).toHaveLength(1);
  });

  it("puts the file name in a folder path, or uses a full file path as is", () => {
    expect(dropboxTargetPath("/renders", "a.png")).toBe("/renders/a.png");
    expect(dropboxTargetPath("/renders/", "a.png")).toBe("/renders/a.png");
    expect(dropboxTargetPath("/", "a.png")).toBe("/a.png");
    expect(dropboxTargetPath("/renders/cover.PNG", "a.png")).toBe("/renders/cover.PNG");
    expect(dropboxTargetPath("/renders/cover.jpg", "a.png")).toBe("/renders/cover.jpg/a.png");
  });
});

const LOCAL = { signingSecrets: [] as string[], allowPrivateNetworks: true, timeoutMs: 5000 };

describe("dropbox destination", () => {
  const token = "sl.u.FAKE-token-0123456789";
  let dropbox: FakeDropbox;
  beforeAll(async () => {
    dropbox = await startFakeDropbox({ token });
  });
  afterAll(() => dropbox.close());
  const dest = (over: Partial<Extract<DirectSendTo, { type: "dropbox" }>> = {}): DirectSendTo => ({
    type: "dropbox",
    access_token: token,
    path: "/Templified/renders",
    mode: "add",
    ...over,
  });
  const opts = () => ({ ...LOCAL, dropboxContentUrl: dropbox.url });

  it("uploads the file and returns Dropbox's id and path", async () => {
    const result = await sendFile(dest(), file(), opts());
    expect(result.identifiers.dropbox_file_id).toMatch(/^id:/);
    expect(result.identifiers.dropbox_path).toBe("/Templified/renders/banner.png");
    const upload = dropbox.uploads.at(-1)!;
    expect(upload.arg).toEqual({ path: "/Templified/renders/banner.png", mode: "add", autorename: false, mute: false });
    expect(upload.bytes.equals(PNG)).toBe(true);
    expect(upload.headers["content-length"]).toBe(String(PNG.length));
    expect(dropbox.files.get("/templified/renders/banner.png")?.id).toBe(result.identifiers.dropbox_file_id);
    expect(dropboxContentHash(PNG)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("escapes non-ASCII characters in Dropbox-API-Arg", async () => {
    const result = await sendFile(dest({ path: "/Bilder/Übersicht 🎨/Titel.png", mode: "overwrite" }), file(), opts());
    expect(result.identifiers.dropbox_path).toBe("/Bilder/Übersicht 🎨/Titel.png");
    const upload = dropbox.uploads.at(-1)!;
    expect(upload.rawArg).toContain("\\u00dcbersicht \\ud83c\\udfa8");
    expect(upload.arg.mode).toBe("overwrite");
  });

  it("reports Dropbox's error summary: 401 invalid token, 409 conflict", async () => {
    const err = await rejection(sendFile(dest({ access_token: "sl.wrong" }), file(), opts()));
    expect(err).toBeInstanceOf(DestinationError);
    expect((err as DestinationError).message).toBe("dropbox: 401 invalid_access_token");
    expect((err as DestinationError).retryable).toBe(false);
    expect((err as DestinationError).statusCode).toBe(401);

    await sendFile(dest({ path: "/conflict" }), file(), opts());
    const conflict = (await rejection(
      sendFile(dest({ path: "/conflict" }), file({ bytes: Buffer.from("other bytes") }), opts()),
    )) as DestinationError;
    expect(conflict.message).toBe("dropbox: 409 path/conflict/file");
    expect(conflict.retryable).toBe(false);
    const renamed = await sendFile(
      dest({ path: "/conflict", autorename: true }),
      file({ bytes: Buffer.from("other bytes") }),
      opts(),
    );
    expect(renamed.identifiers.dropbox_path).toBe("/conflict/banner (1).png");
  });

  it("marks 429 (with Retry-After) and 5xx retryable", async () => {
    dropbox.failNext(1, 429, { retryAfterSeconds: 12 });
    const limited = (await rejection(sendFile(dest(), file(), opts()))) as DestinationError;
    expect(limited.message).toBe("dropbox: 429 too_many_requests");
    expect(limited).toMatchObject({ retryable: true, statusCode: 429, retryAfterMs: 12_000 });
    dropbox.failNext(1, 503);
    const down = (await rejection(sendFile(dest(), file(), opts()))) as DestinationError;
    expect(down).toMatchObject({ message: "dropbox: HTTP 503", retryable: true, statusCode: 503 });
  });

  it("has a fake that refuses malformed requests the way Dropbox does", async () => {
    const send = (headers: Record<string, string>) =>
      guardedRequest(`${dropbox.url}/2/files/upload`, {
        method: "POST",
        headers,
        body: PNG,
        timeoutMs: 2000,
        maxResponseBytes: 1 << 20,
        allowPrivateNetworks: true,
      });
    const auth = { authorization: `Bearer ${token}` };
    const octet = { "content-type": "application/octet-stream" };
    const relative = await send({
      ...auth,
      ...octet,
      "dropbox-api-arg": JSON.stringify({ path: "renders/a.png", mode: "add" }),
    });
    expect([relative.status, relative.body.toString()]).toEqual([
      400,
      expect.stringContaining("path: 'renders/a.png' did not match pattern"),
    ]);
    const badMode = await send({
      ...auth,
      ...octet,
      "dropbox-api-arg": JSON.stringify({ path: "/a.png", mode: "replace" }),
    });
    expect(badMode.status).toBe(400);
    const noType = await send({ ...auth, "dropbox-api-arg": JSON.stringify({ path: "/a.png" }) });
    expect(noType.body.toString()).toMatch(/Bad HTTP "Content-Type" header/);
  });

  it("refuses a private address unless allowed, without retrying", async () => {
    const before = dropbox.requests.length;
    const err = (await rejection(
      sendFile(dest(), file(), { ...opts(), allowPrivateNetworks: false }),
    )) as DestinationError;
    expect(err.message).toBe("dropbox: address 127.0.0.1 is not public");
    expect(err.retryable).toBe(false);
    expect(dropbox.requests.length).toBe(before);
  });
});

describe("webhook destination (the image, signed)", () => {
  const secret = generateWebhookSecret();
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver({ secret });
  });
  afterAll(() => receiver.close());

  it("posts the image in a JSON message that our helper, standardwebhooks and svix all verify", async () => {
    const url = `${receiver.url}/hooks/renders?x=1`;
    const result = await sendFile({ type: "webhook", url }, file({ filename: "Übersicht.png" }), {
      ...LOCAL,
      signingSecrets: [secret],
    });
    expect(result.identifiers).toEqual({ delivery_status: "200" });
    const attempt = receiver.attempts.at(-1)!;
    expect(attempt.verified).toBe(true);
    expect(attempt.method).toBe("POST");
    expect(attempt.path).toBe("/hooks/renders?x=1");
    expect(attempt.verifyError).toBeNull();
    // The libraries hash the body as a string, so the image travels base64-encoded in JSON.
    expect(attempt.headers["content-type"]).toBe("application/json");
    const message = JSON.parse(attempt.body.toString("utf8"));
    expect(message).toEqual({
      type: "render.image",
      job_id: "job_123",
      template_id: "tpl_9",
      filename: "Übersicht.png",
      content_type: "image/png",
      size_bytes: PNG.length,
      data: PNG.toString("base64"),
    });
    expect(Buffer.from(message.data, "base64").equals(PNG)).toBe(true);
    // Its own message: not the job event's msg_job_123.
    expect(attempt.headers["webhook-id"]).toBe("msg_job_123_image");
    expect(attempt.headers["x-templified-job-id"]).toBe("job_123");
    expect(attempt.headers["x-templified-filename"]).toBe(encodeURIComponent("Übersicht.png"));
  });

  it("keeps the webhook-id across retries and reports failures", async () => {
    receiver.respond(503);
    const err = (await rejection(
      sendFile({ type: "webhook", url: `${receiver.url}/h` }, file(), { ...LOCAL, signingSecrets: [secret] }),
    )) as DestinationError;
    expect(err.message).toBe(`webhook ${receiver.url}/h: HTTP 503`);
    expect(err).toMatchObject({ retryable: true, statusCode: 503 });
    receiver.respond(400);
    const bad = (await rejection(
      sendFile({ type: "webhook", url: `${receiver.url}/h` }, file(), { ...LOCAL, signingSecrets: [secret] }),
    )) as DestinationError;
    expect(bad).toMatchObject({ message: `webhook ${receiver.url}/h: HTTP 400`, retryable: false });
    receiver.respond({ status: 302, headers: { location: "http://example.com/" } });
    const moved = (await rejection(
      sendFile({ type: "webhook", url: `${receiver.url}/h` }, file(), { ...LOCAL, signingSecrets: [secret] }),
    )) as DestinationError;
    expect(moved.message).toBe(`webhook ${receiver.url}/h: HTTP 302 (redirects are not followed)`);
    expect(new Set(receiver.attempts.slice(-3).map((a) => a.headers["webhook-id"]))).toEqual(
      new Set(["msg_job_123_image"]),
    );
  });

  it("does not send unsigned", async () => {
    const before = receiver.attempts.length;
    const err = (await rejection(
      sendFile({ type: "webhook", url: `${receiver.url}/h` }, file(), LOCAL),
    )) as DestinationError;
    expect(err.message).toBe(`webhook ${receiver.url}/h: no webhook signing secret configured`);
    expect(err.retryable).toBe(false);
    expect(receiver.attempts.length).toBe(before);
  });
});

describe("gfcrew destination", () => {
  let gfcrew: FakeGfcrew;
  beforeAll(async () => {
    gfcrew = await startFakeGfcrew({ apiKey: "gf_key_123" });
  });
  afterAll(() => gfcrew.close());

  it("sends a multipart body the server parses: the file and JSON metadata", async () => {
    const dest: DirectSendTo = {
      type: "gfcrew",
      endpoint: `${gfcrew.url}/api/v1/assets`,
      api_key: "gf_key_123",
      project: "Spring launch",
      tags: ["social", "og"],
    };
    const result = await sendFile(
      dest,
      file({
        filename: 'cover "final".png',
        metadata: { templateId: "tpl_42", width: 1200, height: 630, created_at: "2025-03-01T10:00:00.000Z" },
      }),
      LOCAL,
    );
    expect(result.identifiers).toEqual({ gfcrew_id: "gf_1" });
    const upload = gfcrew.uploads.at(-1)!;
    expect(upload.filename).toBe('cover "final".png');
    expect(upload.contentType).toBe("image/png");
    expect(upload.bytes.equals(PNG)).toBe(true);
    expect(upload.metadata).toEqual({
      job_id: "job_123",
      template_id: "tpl_42",
      project: "Spring launch",
      tags: ["social", "og"],
      width: 1200,
      height: 630,
      created_at: "2025-03-01T10:00:00.000Z",
    });
    expect(upload.headers["x-templified-job-id"]).toBe("job_123");
  });

  it("reports a refused API key and retryable server errors", async () => {
    const dest: DirectSendTo = { type: "gfcrew", endpoint: `${gfcrew.url}/api/v1/assets`, api_key: "wrong" };
    const err = (await rejection(sendFile(dest, file(), LOCAL))) as DestinationError;
    expect(err).toMatchObject({
      message: `gfcrew ${gfcrew.url}/api/v1/assets: HTTP 401 invalid api key`,
      retryable: false,
      statusCode: 401,
    });
    gfcrew.failNext(1, 502);
    const down = (await rejection(sendFile({ ...dest, api_key: "gf_key_123" }, file(), LOCAL))) as DestinationError;
    expect(down).toMatchObject({ retryable: true, statusCode: 502 });
  });
});

describe("postWebhookEvent", () => {
  const secret = generateWebhookSecret();
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver({ secret });
  });
  afterAll(() => receiver.close());
  const opts = (over: Partial<Parameters<typeof postWebhookEvent>[2]> = {}) => ({
    msgId: "msg_evt_1",
    signingSecrets: [secret],
    allowPrivateNetworks: true,
    timeoutMs: 5000,
    ...over,
  });
  const event = {
    type: "job.completed",
    timestamp: "2025-03-01T10:00:00Z",
    data: { id: "job_1", status: "completed" },
  };

  it("delivers signed JSON: 200 is ok", async () => {
    const out = await postWebhookEvent(`${receiver.url}/events`, event, opts());
    expect(out).toMatchObject({
      ok: true,
      statusCode: 200,
      error: null,
      retryable: false,
      retryAfterMs: null,
      gone: false,
    });
    expect(out.durationMs).toBeGreaterThanOrEqual(0);
    const attempt = receiver.attempts.at(-1)!;
    expect(attempt.verified).toBe(true);
    expect(attempt.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(attempt.body.toString())).toEqual(event);
  });

  it("retries the same message id through 500, 500, 200", async () => {
    receiver.respond(500, 500, 200);
    const outcomes = [];
    for (let i = 0; i < 3; i++)
      outcomes.push(await postWebhookEvent(`${receiver.url}/events`, event, opts({ msgId: "msg_evt_retry" })));
    expect(outcomes.map((o) => [o.ok, o.statusCode, o.retryable, o.error])).toEqual([
      [false, 500, true, "HTTP 500"],
      [false, 500, true, "HTTP 500"],
      [true, 200, false, null],
    ]);
    const attempts = receiver.attempts.slice(-3);
    expect(attempts.every((a) => a.verified && a.headers["webhook-id"] === "msg_evt_retry")).toBe(true);
  });

  it("reads Retry-After on 429, in seconds or as a date", async () => {
    receiver.respond({ status: 429, headers: { "retry-after": "7" } });
    expect(await postWebhookEvent(receiver.url, event, opts())).toMatchObject({
      ok: false,
      statusCode: 429,
      retryable: true,
      retryAfterMs: 7000,
    });
    receiver.respond({ status: 429, headers: { "retry-after": new Date(Date.now() + 60_000).toUTCString() } });
    const dated = await postWebhookEvent(receiver.url, event, opts());
    expect(dated.retryAfterMs).toBeGreaterThan(55_000);
    expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(new Date(0).toUTCString())).toBe(0);
  });

  it("reports 410 as gone and 4xx as final", async () => {
    receiver.respond(410, 404);
    expect(await postWebhookEvent(receiver.url, event, opts())).toMatchObject({
      ok: false,
      statusCode: 410,
      gone: true,
      retryable: false,
      error: "HTTP 410",
    });
    expect(await postWebhookEvent(receiver.url, event, opts())).toMatchObject({
      ok: false,
      statusCode: 404,
      gone: false,
      retryable: false,
    });
  });

  it("refuses a private address when private networks are not allowed, without connecting", async () => {
    const before = receiver.attempts.length;
    const out = await postWebhookEvent(`${receiver.url}/events`, event, opts({ allowPrivateNetworks: false }));
    expect(out).toMatchObject({
      ok: false,
      statusCode: null,
      retryable: false,
      error: "address 127.0.0.1 is not public",
      gone: false,
    });
    const byName = await postWebhookEvent(
      `http://localhost:${new URL(receiver.url).port}/events`,
      event,
      opts({ allowPrivateNetworks: false }),
    );
    expect(byName.error).toMatch(/^address (127\.0\.0\.1|::1) is not public \(resolved from localhost\)$/);
    expect(receiver.attempts.length).toBe(before);
  });

  it("times out, retryably", async () => {
    // The receiver would answer 200 only after ten minutes: an answer at all means the timeout failed.
    receiver.respond({ status: 200, delayMs: 600_000 });
    const out = await postWebhookEvent(receiver.url, event, opts({ timeoutMs: 300 }));
    expect(out).toMatchObject({ ok: false, statusCode: null, retryable: true, error: "timed out after 300 ms" });
  });

  it("never throws: connection refused, bad URL, no secret", async () => {
    const closed = await startWebhookReceiver({ secret });
    const url = closed.url;
    await closed.close();
    expect(await postWebhookEvent(url, event, opts())).toMatchObject({
      ok: false,
      statusCode: null,
      retryable: true,
      error: "connection refused",
    });
    expect(await postWebhookEvent("not a url", event, opts())).toMatchObject({
      ok: false,
      retryable: false,
      error: "not a valid URL",
    });
    expect(await postWebhookEvent(receiver.url, event, opts({ signingSecrets: [] }))).toMatchObject({
      ok: false,
      retryable: false,
      error: "no webhook signing secret configured",
    });
  });
});

describe("guarded client", () => {
  let server: http.Server;
  let base: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/redirect") {
        res.writeHead(302, { location: "/echo" });
        return res.end();
      }
      if (req.url?.startsWith("/redirect-to?")) {
        res.writeHead(307, { location: new URL(req.url, "http://x").searchParams.get("u") ?? "/" });
        return res.end();
      }
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            body: Buffer.concat(chunks).toString(),
            auth: req.headers.authorization ?? null,
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const common = { timeoutMs: 2000, maxResponseBytes: 1 << 20, allowPrivateNetworks: true };

  it("does not follow redirects by default; follows them when asked (a POST becomes a GET)", async () => {
    const noFollow = await guardedRequest(`${base}/redirect`, { ...common, method: "POST", body: "x" });
    expect(noFollow.status).toBe(302);
    expect(noFollow.headers.location).toBe("/echo");
    const followed = await guardedRequest(`${base}/redirect`, {
      ...common,
      method: "POST",
      body: "x",
      maxRedirects: 1,
      headers: { Authorization: "Bearer t" },
    });
    expect(followed.status).toBe(200);
    expect(followed.redirects).toBe(1);
    expect(JSON.parse(followed.body.toString())).toEqual({ method: "GET", url: "/echo", body: "", auth: "Bearer t" });
    // Credentials are not carried to another origin.
    const elsewhere = `${base}/redirect-to?u=${encodeURIComponent(base.replace("127.0.0.1", "localhost") + "/echo")}`;
    const crossed = await guardedRequest(elsewhere, {
      ...common,
      maxRedirects: 1,
      headers: { Authorization: "Bearer t" },
    });
    expect(JSON.parse(crossed.body.toString())).toMatchObject({ url: "/echo", auth: null });
  });

  it("throws typed errors naming the URL and the reason", async () => {
    const cases: [string, Partial<typeof common>, string, string][] = [
      [
        `${base}/echo`,
        { allowPrivateNetworks: false },
        "blocked_address",
        `GET ${base}/echo: address 127.0.0.1 is not public`,
      ],
      [
        "ftp://example.com/x",
        {},
        "invalid_url",
        "GET ftp://example.com/x: unsupported protocol ftp: (only http and https)",
      ],
      [
        `${base}/echo`,
        { maxResponseBytes: 10 },
        "too_large",
        `GET ${base}/echo: response is more than the 10-byte limit`,
      ],
    ];
    for (const [url, over, kind, message] of cases) {
      const err = (await rejection(guardedRequest(url, { ...common, ...over }))) as GuardedRequestError;
      expect(err).toBeInstanceOf(GuardedRequestError);
      expect(err.kind).toBe(kind);
      expect(err.message).toBe(message);
    }
  });
});

describe("parseRetrySchedule", () => {
  it("defaults to immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h", () => {
    expect(parseRetrySchedule(undefined)).toEqual([
      0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    expect(parseRetrySchedule("  ")).toEqual([...DEFAULT_RETRY_SCHEDULE]);
  });

  it("accepts a comma-separated list of milliseconds and refuses anything else", () => {
    expect(parseRetrySchedule("0, 100,2000")).toEqual([0, 100, 2000]);
    expect(() => parseRetrySchedule("0,5s")).toThrow(
      'invalid retry schedule "0,5s": "5s" is not a whole number of milliseconds',
    );
    expect(() => parseRetrySchedule("0,,5")).toThrow(/empty entry/);
    expect(() => parseRetrySchedule("-1")).toThrow(/not a whole number/);
  });
});
