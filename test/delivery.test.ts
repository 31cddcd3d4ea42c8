// Delivery end to end, against local servers that check the real request shapes: signed webhooks
// with retries and their attempt log, send_to destinations with their status, presets whose
// secrets never come back, the Studio export routes, and group events.
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  startFakeDropbox,
  startFakeGfcrew,
  startWebhookReceiver,
  verifyWithEveryLibrary,
  type FakeDropbox,
  type FakeGfcrew,
  type WebhookReceiver,
} from "./helpers/fake-destinations.js";
import { STORAGE_BACKENDS, startStack, type Stack, type StorageChoice } from "./helpers/stack.js";
import { until, waitForQueuesIdle } from "./helpers/wait.js";

let stack: Stack;
let dropbox: FakeDropbox;
let gfcrew: FakeGfcrew;
let org: { orgId: string; apiKey: string; secret: string };
let templateId: string;
const TOKEN = "sl.test-dropbox-token-0123456789";

/** A stack with this file's settings, an organisation with its webhook secret, and a template. */
async function startDeliveryStack(storage: StorageChoice) {
  const started = await startStack(
    { RATE_LIMIT_MAX: "0", DROPBOX_CONTENT_URL: dropbox.url, WEBHOOK_RETRY_SCHEDULE: "0,100,200,300,400" },
    undefined,
    { storage },
  );
  const created = await started.createOrg(10_000);
  const secret = (await started.api(created.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret as string;
  const template = await started.api(created.apiKey, "POST", "/api/v1/templates", {
    width: 40,
    height: 20,
    background: "#3366cc",
  });
  return { stack: started, org: { ...created, secret }, templateId: template.body.template_id as string };
}

beforeAll(async () => {
  dropbox = await startFakeDropbox({ token: TOKEN });
  gfcrew = await startFakeGfcrew({ apiKey: "gf-key-123456" });
  ({ stack, org, templateId } = await startDeliveryStack("disk"));
});
afterAll(async () => {
  await stack?.stop();
  await dropbox?.close();
  await gfcrew?.close();
});

// Every receiver of this file verifies each request with our helper, standardwebhooks and svix
// (JSON events and send_to images alike); after each test, every request any of them got must
// have passed all three.
let receivers: WebhookReceiver[] = [];
async function startReceiver(opts: Parameters<typeof startWebhookReceiver>[0]): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver(opts);
  receivers.push(r);
  return r;
}
afterEach(() => {
  // Only POSTs are deliveries (one test also fetches a broken image from its receiver).
  const failed = receivers.flatMap((r) => r.attempts.filter((a) => a.method === "POST" && !a.verified));
  receivers = [];
  expect(failed.map((a) => `${a.path}: ${a.verifyError}`)).toEqual([]);
});

const poll = (id: string) => stack.api(org.apiKey, "GET", `/api/v1/create/${id}`).then((r) => r.body);

describe("webhooks", () => {
  it("a receiver that fails twice then accepts gets one event: same webhook-id on all three attempts, each verified", async () => {
    const receiver = await startReceiver({ secret: org.secret, script: [500, 503] });
    try {
      const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        webhook_url: `${receiver.url}/hook`,
      });
      await until(
        async () => receiver.attempts.length,
        (n) => n >= 3,
      );
      await waitForQueuesIdle(stack); // no attempt still to come: none after the 200
      expect(receiver.attempts.map((a) => a.status)).toEqual([500, 503, 200]);
      expect(receiver.attempts.every((a) => a.verified)).toBe(true);
      expect(new Set(receiver.attempts.map((a) => a.headers["webhook-id"])).size).toBe(1);
      const event = JSON.parse(receiver.attempts[2]!.body.toString());
      const final = await poll(res.body.job_id);
      expect(event).toEqual({ type: "render.completed", ...final });
      const log = await stack.api(org.apiKey, "GET", `/api/v1/create/${res.body.job_id}/deliveries`);
      expect(log.body.data.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([
        [1, 500],
        [2, 503],
        [3, 200],
      ]);
      expect(log.body.data[0]).toMatchObject({
        type: "render.completed",
        url: `${receiver.url}/hook`,
        error: "HTTP 500",
      });
      expect(log.body.data[0].duration_ms).toBeGreaterThanOrEqual(0);
    } finally {
      await receiver.close();
    }
  });

  it("a 410 stops the retries; a failed render sends render.failed; redeliver sends the same event again", async () => {
    const gone = await startReceiver({ secret: org.secret, script: [410] });
    const receiver = await startReceiver({ secret: org.secret });
    try {
      const a = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        webhook_url: gone.url,
      });
      await until(
        async () => gone.attempts.length,
        (n) => n >= 1,
      );
      await waitForQueuesIdle(stack); // no retry scheduled after the 410
      expect(gone.attempts).toHaveLength(1);
      expect(
        await until(
          () => stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: a.body.job_id } }),
          (j) => j.webhookStatus === "failed",
        ),
      ).toBeTruthy();

      const tpl = (
        await stack.api(org.apiKey, "POST", "/api/v1/templates", {
          width: 10,
          height: 10,
          layers: [{ type: "image", name: "p", width: 5, height: 5, image_url: `${receiver.url}/not-an-image` }],
        })
      ).body.template_id;
      const b = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: tpl,
        webhook_url: `${receiver.url}/events`,
      });
      const first = await until(
        async () => receiver.attempts.filter((x) => x.path === "/events"),
        (l) => l.length >= 1,
      );
      const event = JSON.parse(first[0]!.body.toString());
      expect(event).toMatchObject({ type: "render.failed", job_id: b.body.job_id, status: "failed" });

      expect((await stack.api(org.apiKey, "POST", `/api/v1/create/${b.body.job_id}/redeliver`)).status).toBe(202);
      const both = await until(
        async () => receiver.attempts.filter((x) => x.path === "/events"),
        (l) => l.length >= 2,
      );
      expect(both[1]!.headers["webhook-id"]).toBe(both[0]!.headers["webhook-id"]);
      const noHook = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: templateId });
      expect((await stack.api(org.apiKey, "POST", `/api/v1/create/${noHook.body.job_id}/redeliver`)).status).toBe(400);
    } finally {
      await gone.close();
      await receiver.close();
    }
  });

  it("rotating the secret keeps the previous one signing alongside for 24 hours", async () => {
    const o = await stack.createOrg(100);
    const before = (await stack.api(o.apiKey, "GET", "/api/v1/webhooks/secret")).body.webhook_secret;
    expect(before).toMatch(/^whsec_/);
    const rotated = await stack.api(o.apiKey, "POST", "/api/v1/webhooks/secret/rotate");
    expect(rotated.body.webhook_secret).not.toBe(before);
    expect(Date.parse(rotated.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
    const receiver = await startReceiver({ secret: before });
    try {
      const tpl = (await stack.api(o.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body.template_id;
      await stack.api(o.apiKey, "POST", "/api/v1/create", { template_id: tpl, webhook_url: receiver.url });
      const [attempt] = await until(
        async () => receiver.attempts,
        (l) => l.length >= 1,
      );
      expect(attempt!.verified).toBe(true); // the old secret still verifies
      const body = attempt!.body;
      expect(verifyWithEveryLibrary(rotated.body.webhook_secret, attempt!.headers, body)).toBeNull(); // and the new one
    } finally {
      await receiver.close();
    }
  });

  it("refuses private addresses unless ALLOW_PRIVATE_NETWORKS: the attempt is recorded, not retried", async () => {
    const strict = await startStack({ RATE_LIMIT_MAX: "0", ALLOW_PRIVATE_NETWORKS: "false" });
    const receiver = await startReceiver({ secret: "whsec_unused" });
    try {
      const o = await strict.createOrg(10);
      const tpl = (await strict.api(o.apiKey, "POST", "/api/v1/templates", { width: 10, height: 10 })).body.template_id;
      const res = await strict.api(o.apiKey, "POST", "/api/v1/create", { template_id: tpl, webhook_url: receiver.url });
      const log = await until(
        () => strict.api(o.apiKey, "GET", `/api/v1/create/${res.body.job_id}/deliveries`),
        (r) => r.body.data.length >= 1,
      );
      expect(log.body.data[0].error).toMatch(/not public/);
      await waitForQueuesIdle(strict); // no retry scheduled
      expect(
        (await strict.api(o.apiKey, "GET", `/api/v1/create/${res.body.job_id}/deliveries`)).body.data,
      ).toHaveLength(1);
      expect(receiver.attempts).toHaveLength(0);
    } finally {
      await receiver.close();
      await strict.stop();
    }
  });
});

describe.each(STORAGE_BACKENDS)("send_to (%s storage)", (storage) => {
  // Destinations are sent the output read back from storage: on S3, from the bucket. The S3 run
  // has a stack of its own; the file's other tests use the disk one.
  let diskStack: typeof stack | undefined;
  let diskOrg: typeof org;
  let diskTemplateId: string;
  beforeAll(async () => {
    if (storage === "disk") return;
    [diskStack, diskOrg, diskTemplateId] = [stack, org, templateId];
    ({ stack, org, templateId } = await startDeliveryStack(storage));
  });
  afterAll(async () => {
    if (!diskStack) return;
    await stack.stop();
    [stack, org, templateId] = [diskStack, diskOrg, diskTemplateId];
  });

  it("dropbox: the image is uploaded; send_to_status goes pending -> delivering -> delivered with the file id and path; then the webhook", async () => {
    const receiver = await startReceiver({ secret: org.secret });
    try {
      const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        format: "png",
        webhook_url: receiver.url,
        send_to: { type: "dropbox", access_token: TOKEN, path: "/renders", mode: "add" },
      });
      const done = await until(
        () => poll(res.body.job_id),
        (j) => j.send_to_status === "delivered",
      );
      expect(done.status).toBe("complete");
      expect(done.send_to_result.dropbox_path).toBe(`/renders/${res.body.job_id}.png`);
      expect(done.send_to_result.dropbox_file_id).toMatch(/^id:/);
      const upload = dropbox.uploads.find((u) => u.arg.path.includes(res.body.job_id))!;
      expect(upload.arg).toMatchObject({ mode: "add" });
      expect((await sharp(upload.bytes).metadata()).width).toBe(40);
      const [event] = await until(
        async () => receiver.attempts,
        (l) => l.length >= 1,
      );
      expect(JSON.parse(event!.body.toString())).toMatchObject({
        type: "render.completed",
        send_to_status: "delivered",
      });
    } finally {
      await receiver.close();
    }
  });

  it("a failing destination gives send_to_status failed with send_to_error, and the render stays complete", async () => {
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      send_to: { type: "dropbox", access_token: "sl.wrong-token", path: "/x" },
    });
    const done = await until(
      () => poll(res.body.job_id),
      (j) => j.send_to_status === "failed",
    );
    expect(done.status).toBe("complete");
    expect(done.output_url).toBeDefined();
    expect(done.send_to_error).toMatch(/dropbox: 401/);
  });

  it("gfcrew and webhook destinations send the image in their shapes", async () => {
    const receiver = await startReceiver({ secret: org.secret });
    try {
      const g = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        send_to: {
          type: "gfcrew",
          endpoint: `${gfcrew.url}/upload`,
          api_key: "gf-key-123456",
          project: "launch",
          tags: ["a"],
        },
      });
      const gd = await until(
        () => poll(g.body.job_id),
        (j) => j.send_to_status === "delivered",
      );
      const up = gfcrew.uploads.find((u) => u.metadata.job_id === g.body.job_id)!;
      expect(up.metadata).toMatchObject({ project: "launch", tags: ["a"] });
      expect(gd.send_to_result.gfcrew_id).toBe(up.id);
      const w = await stack.api(org.apiKey, "POST", "/api/v1/create", {
        template_id: templateId,
        send_to: { type: "webhook", url: `${receiver.url}/files` },
        webhook_url: `${receiver.url}/events`,
      });
      await until(
        async () => receiver.attempts.filter((a) => a.path === "/events"),
        (l) => l.length >= 1,
      );
      const file = receiver.attempts.find((a) => a.path === "/files")!;
      const event = receiver.attempts.find((a) => a.path === "/events")!;
      // The image is a JSON message (base64), verified like any event by all three libraries.
      expect([file.verifyError, event.verifyError]).toEqual([null, null]);
      expect(file.headers["content-type"]).toBe("application/json");
      const image = JSON.parse(file.body.toString("utf8"));
      expect(image).toMatchObject({ type: "render.image", job_id: w.body.job_id, content_type: "image/png" });
      const png = Buffer.from(image.data, "base64");
      expect(png.length).toBe(image.size_bytes);
      expect((await sharp(png).metadata()).format).toBe("png");
      // Two messages, two ids: a receiver deduplicating on webhook-id keeps both.
      expect(file.headers["webhook-id"]).toBe(`msg_${w.body.job_id}_image`);
      expect(event.headers["webhook-id"]).toBe(`msg_${w.body.job_id}`);
    } finally {
      await receiver.close();
    }
  });
});

describe("Send-To presets", () => {
  it("stores credentials encrypted, never returns them, and sends through the preset", async () => {
    const created = await stack.api(org.apiKey, "POST", "/api/v1/send-to-presets", {
      name: "Team Dropbox",
      destination: { type: "dropbox", access_token: TOKEN, path: "/team" },
    });
    expect(created.status).toBe(201);
    const id = created.body.preset_id;
    const responses = [
      created,
      await stack.api(org.apiKey, "GET", `/api/v1/send-to-presets/${id}`),
      await stack.api(org.apiKey, "GET", "/api/v1/send-to-presets"),
    ];
    for (const r of responses) expect(JSON.stringify(r.body)).not.toContain(TOKEN);
    expect(created.body.destination.path).toBe("/team");
    const row = await stack.app.ctx.prisma.sendToPreset.findUniqueOrThrow({ where: { id } });
    expect(row.config).not.toContain(TOKEN);

    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      send_to: { type: "preset", preset_id: id },
    });
    const done = await until(
      () => poll(res.body.job_id),
      (j) => j.send_to_status === "delivered",
    );
    expect(done.send_to_result.dropbox_path).toMatch(/^\/team\//);
    expect(JSON.stringify(done)).not.toContain(TOKEN);
    const job = await stack.app.ctx.prisma.job.findUniqueOrThrow({ where: { id: res.body.job_id } });
    expect(job.sendTo).not.toContain("preset_id"); // encrypted at rest too

    const unknown = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: templateId,
      send_to: { type: "preset", preset_id: "stp_nope" },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toContain("send_to.preset_id");
    expect((await stack.api(org.apiKey, "DELETE", `/api/v1/send-to-presets/${id}`)).status).toBe(204);
  });
});

describe("Studio export routes", () => {
  it("answer 200 {ok, async:false, outputUrl, identifiers} when done in time, 202 {ok, async:true, job_id} when queued", async () => {
    const sync = await stack.api(org.apiKey, "POST", "/api/v1/studio/export/dropbox", {
      template_id: templateId,
      access_token: TOKEN,
      path: "/exports",
    });
    expect(sync.status).toBe(200);
    expect(sync.body).toMatchObject({
      ok: true,
      async: false,
      job_id: expect.stringMatching(/^clx_/),
      dropbox_path: expect.stringMatching(/^\/exports\//),
    });
    expect(sync.body.outputUrl).toMatch(/\/renders\/clx_/);

    const queued = await stack.api(org.apiKey, "POST", "/api/v1/studio/export/dropbox", {
      design: { width: 12, height: 12 },
      access_token: TOKEN,
      path: "/exports",
      async: true,
    });
    expect(queued.status).toBe(202);
    expect(queued.body).toEqual({ ok: true, async: true, job_id: expect.stringMatching(/^clx_/) });
    expect(queued.body.outputUrl).toBeUndefined();
    await until(
      () => poll(queued.body.job_id),
      (j) => j.send_to_status === "delivered",
    );

    const failed = await stack.api(org.apiKey, "POST", "/api/v1/studio/export/dropbox", {
      template_id: templateId,
      access_token: "sl.bad",
      path: "/x",
    });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ ok: false, async: false, error: expect.stringMatching(/401/) });

    const bad = await stack.api(org.apiKey, "POST", "/api/v1/studio/export/dropbox", {
      template_id: templateId,
      path: "/x",
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("access_token");
  });
});

describe("GraphQL exportDesign", () => {
  it("answers the same two shapes, and refuses an invalid destination with a ValidationError", async () => {
    const q = `mutation($input: ExportDesignInput!) { exportDesign(input: $input) { __typename ... on ExportResult { ok async jobId outputUrl identifiers } ... on ValidationError { fields { path } } } }`;
    const dest = { type: "dropbox", access_token: TOKEN, path: "/gql" };
    const done = await stack.api(org.apiKey, "POST", "/graphql", {
      query: q,
      variables: { input: { templateId, destination: dest } },
    });
    expect(done.body.data.exportDesign).toMatchObject({
      __typename: "ExportResult",
      ok: true,
      async: false,
      identifiers: { dropbox_path: expect.stringMatching(/^\/gql\//) },
    });
    const queued = await stack.api(org.apiKey, "POST", "/graphql", {
      query: q,
      variables: { input: { templateId, destination: dest, async: true } },
    });
    expect(queued.body.data.exportDesign).toMatchObject({ ok: true, async: true, outputUrl: null, identifiers: null });
    const bad = await stack.api(org.apiKey, "POST", "/graphql", {
      query: q,
      variables: { input: { templateId, destination: { type: "dropbox" } } },
    });
    expect(bad.body.data.exportDesign.__typename).toBe("ValidationError");
    expect(bad.body.data.exportDesign.fields.map((f: { path: string }) => f.path)).toContain(
      "input.destination.access_token",
    );
  });
});

describe("design group events", () => {
  it("a group with a webhook_url sends one design_group.completed when the whole group is final", async () => {
    const receiver = await startReceiver({ secret: org.secret });
    try {
      const other = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 20, height: 40 })).body
        .template_id;
      const res = await stack.api(org.apiKey, "POST", "/api/v1/design-groups/create", {
        template_ids: [templateId, other],
        webhook_url: receiver.url,
      });
      await until(
        async () => receiver.attempts.length,
        (n) => n >= 1,
      );
      await waitForQueuesIdle(stack); // every item rendered, nothing left to deliver: no second event
      expect(receiver.attempts).toHaveLength(1);
      const event = JSON.parse(receiver.attempts[0]!.body.toString());
      expect(event).toMatchObject({ type: "design_group.completed", job_id: res.body.job_id, status: "complete" });
      expect(event.items).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });
});
