// Live job status over graphql-ws (the `jobStatus` subscription), shaped back into the REST poll
// body. Works with any WebSocket implementation: the browser's, Node's `ws`, or none at all (the
// caller then polls).
import { createClient, type Client } from "graphql-ws/client";
import type { Job, JobItem, JobStatus, SendToStatus } from "./types.js";

/** A WebSocket constructor: the browser's `WebSocket`, or `ws` in Node (`import WebSocket from "ws"`). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

/** Every field of the GraphQL `Job`, so the REST body can be rebuilt from one event. */
const JOB_STATUS_SUBSCRIPTION = `subscription TemplifiedJobStatus($id: ID!) {
  jobStatus(jobId: $id) {
    id status templateId designGroupId outputUrl outputUrls outputExpiredAt renderMs error createdAt completedAt
    sendToStatus sendToError sendToResult
    items { id templateId status outputUrl renderMs error outputExpiredAt }
  }
}`;

export interface GraphQLJob {
  id: string;
  status: JobStatus;
  templateId?: string | null;
  designGroupId?: string | null;
  outputUrl?: string | null;
  outputUrls?: string[] | null;
  outputExpiredAt?: string | null;
  renderMs?: number | null;
  error?: string | null;
  createdAt: string;
  completedAt?: string | null;
  sendToStatus?: SendToStatus | null;
  sendToError?: string | null;
  sendToResult?: Record<string, string> | null;
  items?:
    | {
        id: string;
        templateId?: string | null;
        status: JobStatus;
        outputUrl?: string | null;
        renderMs?: number | null;
        error?: string | null;
        outputExpiredAt?: string | null;
      }[]
    | null;
}

/**
 * The GraphQL job in the REST shape: camelCase back to snake_case, and nulls left out (the REST
 * body leaves out what does not apply; group items keep their nulls, as in REST).
 */
export function jobFromGraphQL(g: GraphQLJob): Job {
  // Key order follows the REST body.
  return {
    job_id: g.id,
    status: g.status,
    ...(g.templateId != null ? { template_id: g.templateId } : {}),
    ...(g.designGroupId != null ? { design_group_id: g.designGroupId } : {}),
    ...(g.outputUrl != null ? { output_url: g.outputUrl } : {}),
    ...(g.outputUrls != null ? { output_urls: g.outputUrls } : {}),
    ...(g.outputExpiredAt != null ? { output_expired_at: g.outputExpiredAt } : {}),
    ...(g.renderMs != null ? { render_ms: g.renderMs } : {}),
    ...(g.error != null ? { error: g.error } : {}),
    created_at: g.createdAt,
    ...(g.completedAt != null ? { completed_at: g.completedAt } : {}),
    ...(g.sendToStatus != null ? { send_to_status: g.sendToStatus } : {}),
    ...(g.sendToError != null ? { send_to_error: g.sendToError } : {}),
    ...(g.sendToResult != null ? { send_to_result: g.sendToResult } : {}),
    ...(g.items != null
      ? {
          items: g.items.map((i): JobItem => ({
            job_id: i.id,
            template_id: i.templateId ?? null,
            status: i.status,
            output_url: i.outputUrl ?? null,
            render_ms: i.renderMs ?? null,
            error: i.error ?? null,
            ...(i.outputExpiredAt != null ? { output_expired_at: i.outputExpiredAt } : {}),
          })),
        }
      : {}),
  };
}

/**
 * Nothing more will happen to the job: `failed`, or `complete` with no send_to or a final one
 * (`delivered` / `failed`). The same rule as the server's `isSettled`.
 */
export function isSettled(job: Pick<Job, "status" | "send_to_status">): boolean {
  return (
    job.status === "failed" ||
    (job.status === "complete" &&
      (job.send_to_status === undefined || job.send_to_status === "delivered" || job.send_to_status === "failed"))
  );
}

/** Progress order of the visible states (as the server ranks them), so updates never go backwards. */
export function progressRank(job: Pick<Job, "status" | "send_to_status">): number {
  if (job.status === "pending") return 0;
  if (job.status === "processing") return 1;
  if (job.status === "failed" || job.send_to_status === undefined) return 4;
  return { pending: 2, delivering: 3, delivered: 4, failed: 4 }[job.send_to_status];
}

/** A socket that failed at construction: graphql-ws sees an error event on it, then a close. */
function deadSocket(error: unknown) {
  const socket = {
    readyState: 3,
    protocol: "",
    onopen: null as unknown,
    onmessage: null as unknown,
    onerror: null as ((event: unknown) => void) | null,
    onclose: null as ((event: unknown) => void) | null,
    send() {},
    close() {},
  };
  setTimeout(() => {
    socket.onerror?.(error);
    socket.onclose?.({ code: 1006, reason: error instanceof Error ? error.message : String(error), wasClean: false });
  }, 0);
  return socket;
}

/**
 * Wraps a WebSocket constructor so that one that throws (a blocked or missing implementation)
 * reports an error event instead: graphql-ws would otherwise wait forever on a connection that
 * never started.
 */
function guardedWebSocket(Impl: WebSocketConstructor): unknown {
  function Guarded(url: string, protocols?: string | string[]): unknown {
    try {
      return new Impl(url, protocols);
    } catch (error) {
      return deadSocket(error);
    }
  }
  return Object.assign(Guarded, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
}

/** The global WebSocket (browsers, Node 22+), if any. */
export function globalWebSocket(): WebSocketConstructor | undefined {
  const impl = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof impl === "function" ? (impl as WebSocketConstructor) : undefined;
}

/**
 * One lazy graphql-ws client: it connects on the first subscription and closes when the last one
 * ends. No retries: when the connection fails, subscriptions error at once and their callers poll.
 */
export function createLiveClient(url: string, apiKey: string, impl: WebSocketConstructor): Client {
  return createClient({
    url,
    webSocketImpl: guardedWebSocket(impl),
    connectionParams: { authorization: `Bearer ${apiKey}` },
    lazy: true,
    lazyCloseTimeout: 0,
    retryAttempts: 0,
    // A socket that opens but never acknowledges (a proxy that eats upgrades) fails too.
    connectionAckWaitTimeout: 10_000,
  });
}

/** What a wait rejects with when its signal aborts: the signal's reason (an Error), or an AbortError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const error = new Error("The operation was aborted", { cause: reason });
  error.name = "AbortError";
  return error;
}

/** Why the WebSocket path gave up; `cause` holds the close event, error or GraphQL errors. */
export class LiveUnavailable extends Error {
  override name = "LiveUnavailable";
}

/**
 * Follows `jobStatus(jobId)` until the job is settled. Resolves `{ job }` when it is, or
 * `{ fallback }` when the WebSocket path cannot finish (no connection, a close, GraphQL errors
 * such as NOT_FOUND, a subscription that ended early): the caller then polls, which also turns
 * auth and not-found problems into the REST errors. Rejects with `signal.reason` on abort, or
 * with what `onState` threw.
 */
export function followJob(
  client: Client,
  jobId: string,
  onState: (job: Job) => void,
  signal: AbortSignal,
): Promise<{ job: Job } | { fallback: LiveUnavailable }> {
  return new Promise((resolve, reject) => {
    let finished = false;
    let unsubscribe = () => {};
    const finish = (settle: () => void) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      unsubscribe();
      settle();
    };
    const onAbort = () => finish(() => reject(abortReason(signal)));
    const fallback = (message: string, cause?: unknown) =>
      finish(() => resolve({ fallback: new LiveUnavailable(message, { cause }) }));
    if (signal.aborted) return reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    unsubscribe = client.subscribe<{ jobStatus: GraphQLJob }>(
      { query: JOB_STATUS_SUBSCRIPTION, variables: { id: jobId } },
      {
        next: (result) => {
          if (finished) return;
          if (result.errors?.length || !result.data?.jobStatus) {
            return fallback(
              `jobStatus answered with errors: ${(result.errors ?? []).map((e) => e.message).join("; ") || "no data"}`,
              result.errors,
            );
          }
          const job = jobFromGraphQL(result.data.jobStatus);
          try {
            onState(job);
          } catch (e) {
            return finish(() => reject(e instanceof Error ? e : new Error(String(e))));
          }
          if (isSettled(job)) finish(() => resolve({ job }));
        },
        error: (e) => fallback(`WebSocket unavailable: ${describeSocketError(e)}`, e),
        complete: () => fallback("jobStatus ended before the job was final"),
      },
    );
  });
}

function describeSocketError(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === "object") {
    const x = e as { code?: unknown; reason?: unknown; message?: unknown; type?: unknown; error?: unknown };
    if (typeof x.code === "number")
      return `closed with ${x.code}${typeof x.reason === "string" && x.reason ? ` ${x.reason}` : ""}`;
    if (x.error instanceof Error) return x.error.message;
    if (typeof x.message === "string") return x.message;
    if (typeof x.type === "string") return `${x.type} event`;
  }
  return String(e);
}
