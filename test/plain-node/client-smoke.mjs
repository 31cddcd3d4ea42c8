// A plain Node program (no tsx, no TypeScript) using the package as an integrator would: it
// imports `templified/client` and `templified/webhooks` by name (Node resolves the package's own
// name through its `exports`, to the JavaScript `npm run build` emits), creates a template,
// renders a card with a webhook to a receiver of its own, and verifies that delivery's signature.
// test/build.test.ts runs it against the compiled API; it prints one JSON line on success.
//
//   TEMPLIFIED_URL=http://127.0.0.1:3000 TEMPLIFIED_KEY=tk_live_… node test/plain-node/client-smoke.mjs
import { createServer } from "node:http";
import { TemplifiedClient, NotFoundError } from "templified/client";
import { verifyWebhook, WebhookVerificationError } from "templified/webhooks";

const client = new TemplifiedClient({
  baseUrl: process.env.TEMPLIFIED_URL,
  apiKey: process.env.TEMPLIFIED_KEY,
  // Node 20 has no global WebSocket and this program adds no dependency: waitForJob polls.
  webSocketImpl: null,
  pollIntervalMs: 100,
});

// The webhook receiver: resolves with the first POST's headers and raw body.
let delivered;
const delivery = new Promise((resolve) => (delivered = resolve));
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(204).end();
    delivered({ headers: req.headers, body: Buffer.concat(chunks) });
  });
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

try {
  const template = await client.templates.create({
    name: "plain node",
    width: 240,
    height: 120,
    background: "#3366cc",
    layers: [{ type: "text", name: "title", width: 200, height: 60, x: 20, y: 30, color: "#ffffff" }],
  });
  const { job_id } = await client.createRender({
    template_id: template.template_id,
    modifications: [{ name: "title", text: "From plain Node" }],
    format: "png",
    webhook_url: hookUrl,
  });
  const job = await client.waitForJob(job_id, { timeoutMs: 30_000 });
  const image = await fetch(job.output_url.replace(/^https?:\/\/[^/]+/, client.baseUrl));
  const bytes = Buffer.from(await image.arrayBuffer());

  // The typed errors are real classes in the built JavaScript.
  const missing = await client.getJob("clx_does_not_exist").catch((e) => e);

  const { webhook_secret } = await client.webhooks.secret();
  const hook = await delivery;
  verifyWebhook(webhook_secret, hook.headers, hook.body); // throws unless signed with the secret
  let tamperedRejected = false;
  try {
    verifyWebhook(webhook_secret, hook.headers, Buffer.concat([hook.body, Buffer.from(" ")]));
  } catch (e) {
    tamperedRejected = e instanceof WebhookVerificationError;
  }
  const event = JSON.parse(hook.body.toString("utf8"));
  console.log(
    JSON.stringify({
      status: job.status,
      png: bytes.subarray(1, 4).toString("latin1"),
      notFound: missing instanceof NotFoundError,
      event: event.type,
      eventJob: event.job_id === job_id,
      verified: true,
      tamperedRejected,
    }),
  );
} finally {
  receiver.close();
  await client.close();
}
