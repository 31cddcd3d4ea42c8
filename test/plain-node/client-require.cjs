// CommonJS: Node 20.19+ can require() the built ES modules (no top-level await in them), so
// `require("templified/client")` works without a second, CommonJS build. test/build.test.ts runs it.
const { TemplifiedClient, TemplifiedError } = require("templified/client");
const { verifyWebhook, webhookHeaders } = require("templified/webhooks");

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const body = '{"type":"render.completed"}';
verifyWebhook(secret, webhookHeaders([secret], "msg_1", Math.floor(Date.now() / 1000), body), body);
console.log(
  JSON.stringify({
    client: typeof TemplifiedClient === "function" && new TemplifiedError("x") instanceof Error,
    webhooks: true,
  }),
);
