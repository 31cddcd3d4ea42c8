// The page's only ways to the API: GraphQL over HTTP, REST (templates, versions, exports, and
// the preview image), and graphql-ws for the subscriptions. Everything uses the pasted API key as a bearer token, and
// every failure becomes an ApiError with a sentence a person can read.
import { createClient, type Client } from "graphql-ws";
import { retryAfterMs } from "./state/retry-after.js";

export class ApiError extends Error {}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: { message: string }[];
}

const unreachable = () => new ApiError("The API cannot be reached: is the server running?");

export async function gql<T>(key: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  let res: Response;
  try {
    res = await fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        authorization: `Bearer ${key}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw unreachable();
  }
  if (res.status === 401) throw new ApiError("Invalid API key: check it and connect again.");
  const body = (await res.json().catch(() => null)) as GraphQLBody<T> | null;
  if (body?.errors?.length) throw new ApiError(body.errors.map((e) => e.message).join("; "));
  if (!res.ok || !body?.data) throw new ApiError(`The API answered HTTP ${res.status}.`);
  return body.data;
}

export async function rest<T>(key: string, method: string, route: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(route, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw unreachable();
  }
  const parsed = (await res.json().catch(() => null)) as
    (T & { error?: string; details?: { path?: string; message?: string }[] }) | null;
  if (!res.ok) {
    const details = parsed?.details?.map((d) => `${d.path ?? ""}: ${d.message ?? ""}`).join("; ");
    throw new ApiError(`${parsed?.error ?? `HTTP ${res.status}`}${details ? ` (${details})` : ""}`);
  }
  return parsed as T;
}

/** A preview image: a blob: URL of the server's render of the document, not charged. */
export interface PreviewImage {
  url: string;
  renderMs: number | null;
  /** What the preview leaves out (X-Preview-Notes), e.g. that background removal is not applied. */
  notes: string | null;
}

/** Why there is no new preview; `retryAfterMs` when asking again later may work (429, 502, 503). */
export class PreviewError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/**
 * The server's render of a document (POST /api/v1/previews), as the real renderer draws it, at
 * `scale`. The image is bytes (a blob: URL, which the page's CSP allows for images); the caller
 * revokes the URL when it shows the next one. Aborting the signal abandons the request.
 */
export async function fetchPreview(
  key: string,
  document: unknown,
  scale: number,
  signal: AbortSignal,
): Promise<PreviewImage> {
  let res: Response;
  try {
    res = await fetch("/api/v1/previews", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", accept: "image/*" },
      body: JSON.stringify({ document, scale, format: "png" }),
      signal,
    });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new PreviewError("The API cannot be reached: is the server running?", 2000);
  }
  if (res.ok) {
    const blob = await res.blob();
    const ms = Number(res.headers.get("x-render-ms"));
    return {
      url: URL.createObjectURL(blob),
      renderMs: Number.isFinite(ms) && res.headers.has("x-render-ms") ? ms : null,
      notes: res.headers.get("x-preview-notes"),
    };
  }
  const body = (await res.json().catch(() => null)) as {
    error?: string;
    details?: { path?: string; message?: string }[];
  } | null;
  const details = body?.details?.map((d) => `${d.path ?? ""}: ${d.message ?? ""}`).join("; ");
  const message = `${body?.error ?? `HTTP ${res.status}`}${details ? ` (${details})` : ""}`;
  // Asked again after the server's Retry-After (seconds), or 3 s when it gives none.
  const wait = retryAfterMs(res.headers.get("retry-after"));
  if (res.status === 429) throw new PreviewError(`Previews are rate limited: ${message}`, wait);
  if (res.status === 502 || res.status === 503)
    throw new PreviewError(`No preview right now (${res.status}): ${message}`, wait);
  if (res.status === 401) throw new PreviewError("Invalid API key: check it and connect again.");
  if (res.status === 404 && !body?.error)
    throw new PreviewError("This API has no preview endpoint (/api/v1/previews).");
  throw new PreviewError(message);
}

export type LiveState = "connecting" | "live" | "offline" | "refused";

/** A graphql-ws client for one key: reconnects (and resubscribes) on its own, except after a refused key. */
export function liveClient(key: string, onState: (state: LiveState) => void): Client {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql`;
  return createClient({
    url,
    connectionParams: { authorization: `Bearer ${key}` },
    // Connected from the start (not at the first subscription), so the page shows "live" at once.
    lazy: false,
    retryAttempts: 50,
    shouldRetry: (event) => !isClose(event, 4403),
    on: {
      connecting: () => onState("connecting"),
      connected: () => onState("live"),
      closed: (event) => onState(isClose(event, 4403) ? "refused" : "offline"),
    },
  });
}

function isClose(event: unknown, code: number): boolean {
  return typeof event === "object" && event !== null && "code" in event && event.code === code;
}

/** A subscription's failure as a sentence: GraphQL errors, a closed socket, or an Error. */
function liveErrorMessage(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message ?? "unknown error").join("; ");
  if (isClose(error, 4403)) return "The live connection was refused: the API key is not valid.";
  if (typeof error === "object" && error !== null && "code" in error) {
    const { code, reason } = error as { code: number; reason?: string };
    return `The live connection closed (${code}${reason ? `: ${reason}` : ""}).`;
  }
  return error instanceof Error ? error.message : String(error);
}

export interface Sink<T> {
  next(data: T): void;
  error(message: string): void;
  complete(): void;
}

/** Starts a subscription; returns the function that stops it. */
export function subscribe<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  sink: Sink<T>,
): () => void {
  return client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) sink.error(result.errors.map((e) => e.message).join("; "));
        else if (result.data) sink.next(result.data);
      },
      error: (error) => sink.error(liveErrorMessage(error)),
      complete: () => sink.complete(),
    },
  );
}
