// `templified/client`: the typed client for the Templified API, for Node 20+ and browsers.
//
//   import WebSocket from "ws"; // Node 20 only: browsers (and Node 22+) have a global WebSocket
//   import { TemplifiedClient } from "templified/client";
//   const client = new TemplifiedClient({ baseUrl: "http://localhost:3000", apiKey: "tk_live_…", webSocketImpl: WebSocket });
//   const { job_id } = await client.createRender({ template_id: "tpl_…", format: "png" });
//   const job = await client.waitForJob(job_id, { onUpdate: (j) => console.log(j.status) });
//
// Types keep the REST API's snake_case field names, so they read like the README.
export { TemplifiedClient, isAccepted } from "./client.js";
export type { CreateOptions, RenderOptions, RequestOptions, TemplifiedClientOptions, WaitOptions } from "./client.js";
export {
  AccountSuspendedError,
  AuthenticationError,
  IdempotencyConflictError,
  InsufficientBalanceError,
  NetworkError,
  NotFoundError,
  PreviewFailedError,
  RateLimitError,
  RequestError,
  ServerError,
  ServiceUnavailableError,
  TemplifiedError,
  ValidationError,
  WaitTimeoutError,
} from "./errors.js";
export { isSettled, jobFromGraphQL, LiveUnavailable } from "./live.js";
// Signed render URLs built offline from the organisation's secret: the server verifies with the same code.
export { signRenderUrl } from "../signed-urls/url.js";
export type { SignedRenderParams, SignRenderUrlOptions, SignedUrlFormat } from "../signed-urls/url.js";
export type { GraphQLJob, WebSocketConstructor } from "./live.js";
export type * from "./types.js";
