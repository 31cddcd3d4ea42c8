// The typed client over the REST API (and the jobStatus subscription for waiting). Runs in Node 20
// and in browsers: global fetch, and a WebSocket implementation passed in or found globally.
import type { Client as GraphQLWsClient } from "graphql-ws/client";
import {
  errorFromResponse,
  IdempotencyConflictError,
  NetworkError,
  PreviewFailedError,
  RateLimitError,
  ServerError,
  ServiceUnavailableError,
  TemplifiedError,
  WaitTimeoutError,
} from "./errors.js";
import {
  abortReason,
  createLiveClient,
  followJob,
  globalWebSocket,
  isSettled,
  LiveUnavailable,
  progressRank,
  type WebSocketConstructor,
} from "./live.js";
import type {
  Account,
  CreateRenderInput,
  CreateRenderResult,
  DesignGroup,
  DesignGroupInput,
  DesignGroupRenderInput,
  ExportBody,
  ExportDestination,
  ExportResult,
  Font,
  FontList,
  FontUploadOptions,
  Job,
  LedgerEntry,
  Page,
  PageOptions,
  PreviewImage,
  PreviewInput,
  RenderAccepted,
  SendToPreset,
  SendToPresetInput,
  SignedRenderInput,
  SignedUrl,
  StudioRenderAccepted,
  StudioRenderInput,
  StudioRenderResult,
  Template,
  TemplateInput,
  TemplateVersion,
  UrlSigningSecret,
  WebhookAttempt,
  WebhookSecret,
} from "./types.js";

export interface TemplifiedClientOptions {
  /** Where the API runs, e.g. `https://templified.example.com` (no `/api/v1`). */
  baseUrl: string;
  /** The organisation's API key, `tk_live_…`. */
  apiKey: string;
  /**
   * The WebSocket implementation `waitForJob` subscribes with. Browsers (and Node 22+) have a
   * global one; in Node 20 pass `ws` (`import WebSocket from "ws"`). Without one, or with `null`,
   * `waitForJob` polls.
   */
  webSocketImpl?: WebSocketConstructor | null;
  /** The GraphQL WebSocket URL. Default: `baseUrl` with `ws`/`wss` instead of `http`/`https`, plus `/graphql`. */
  wsUrl?: string;
  /** A fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** How often `waitForJob` polls when it cannot subscribe. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Extra headers sent with every REST request (e.g. a tracing header). */
  headers?: Record<string, string>;
}

/** Options of any single request. */
export interface RequestOptions {
  /** Aborts the request; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of a request that creates a job. */
export interface CreateOptions extends RequestOptions {
  /**
   * Sent as `Idempotency-Key` (1 to 255 printable characters): the same key and body within 24 h
   * answer with the first job, with no second charge; another body with it is a 422
   * (`IdempotencyConflictError`).
   */
  idempotencyKey?: string;
}

/** Options of `createRender` / `createStudioRender`. */
export interface RenderOptions extends CreateOptions {
  /**
   * `true`: `?sync=true`, wait for the render (up to the server's `SYNC_TIMEOUT_MS`, 25 s by
   * default) and answer with the finished `Job`; past that, the usual `RenderAccepted`.
   */
  sync?: boolean;
}

/** Options of `waitForJob`. */
export interface WaitOptions {
  /** Give up after this long with a `WaitTimeoutError` (the job goes on). Default: no limit. */
  timeoutMs?: number;
  /** Stop waiting; the promise rejects with the signal's reason (the job goes on). */
  signal?: AbortSignal;
  /**
   * Called with each new state, in order (`pending`, `processing`, `complete` or `failed`, then
   * the send_to states), never twice for one state and never backwards. Throwing stops the wait
   * with that error.
   */
  onUpdate?: (job: Job) => void;
  /** Called once, with the reason, when the WebSocket cannot be used and polling takes over. */
  onFallback?: (reason: unknown) => void;
  /** Polling interval when polling. Default: the client's `pollIntervalMs` (1000 ms). */
  pollIntervalMs?: number;
}

/** `true` for the 202 answer (queued; poll or wait), `false` for a finished `Job` from `sync`. */
export function isAccepted(result: CreateRenderResult): result is RenderAccepted {
  return "poll_url" in result;
}

type Query = Record<string, string | number | boolean | undefined>;

interface Call extends RequestOptions {
  query?: Query;
  /** A JSON body (serialised here). */
  json?: unknown;
  /** A raw body (font files). */
  raw?: { body: Blob | ArrayBuffer | Uint8Array; contentType: string };
  headers?: Record<string, string>;
  /** The answer is an image, not JSON: the bytes and headers of a 2xx are returned as they are. */
  binary?: boolean;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
    };
    const abort = () => {
      done();
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener("abort", abort, { once: true });
  });

const seg = (id: string) => encodeURIComponent(id);

/**
 * The Templified API client.
 *
 * ```ts
 * import WebSocket from "ws"; // Node 20 only; browsers have WebSocket
 * import { TemplifiedClient, InsufficientBalanceError } from "templified/client";
 *
 * const client = new TemplifiedClient({ baseUrl: "http://localhost:3000", apiKey: process.env.TEMPLIFIED_KEY!, webSocketImpl: WebSocket });
 * const { job_id } = await client.createRender({ template_id: "tpl_…", modifications: [{ name: "title", text: "Hello" }] });
 * const job = await client.waitForJob(job_id, { timeoutMs: 30_000 });
 * if (job.status === "complete") console.log(job.output_url);
 * ```
 *
 * Every method throws a `TemplifiedError` subclass for a non-2xx answer (`ValidationError`,
 * `AuthenticationError`, `InsufficientBalanceError`, `AccountSuspendedError`, `NotFoundError`,
 * `IdempotencyConflictError`, `RateLimitError`, `ServiceUnavailableError`, `ServerError`,
 * `RequestError`) and `NetworkError` when the API cannot be reached.
 */
export class TemplifiedClient {
  /** The API's base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The GraphQL WebSocket URL `waitForJob` subscribes to. */
  readonly wsUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch | undefined;
  private readonly webSocketImpl: WebSocketConstructor | null | undefined;
  private readonly pollIntervalMs: number;
  private readonly extraHeaders: Record<string, string>;
  private liveClient: GraphQLWsClient | undefined;

  /**
   * @param options `baseUrl` and `apiKey`; `webSocketImpl` (Node 20: the `ws` package) for live
   * waiting; `fetch`, `wsUrl`, `pollIntervalMs`, `headers` to adjust.
   */
  constructor(options: TemplifiedClientOptions) {
    if (!options.baseUrl) throw new TypeError("TemplifiedClient: baseUrl is required");
    if (!options.apiKey) throw new TypeError("TemplifiedClient: apiKey is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.wsUrl = options.wsUrl ?? `${this.baseUrl.replace(/^http/i, "ws")}/graphql`;
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch;
    this.webSocketImpl = options.webSocketImpl;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.extraHeaders = options.headers ?? {};
  }

  // ---------------------------------------------------------------------------- renders

  /**
   * Queue a render (`POST /api/v1/create`): answers at once with `{ job_id, status: "pending", poll_url }`.
   * The render is charged when accepted and refunded if it fails.
   * @throws ValidationError (400: bad field, unknown layer), InsufficientBalanceError /
   * AccountSuspendedError (402: nothing created), NotFoundError (404: template),
   * IdempotencyConflictError (422).
   */
  createRender(input: CreateRenderInput, options?: RenderOptions & { sync?: false }): Promise<RenderAccepted>;
  /**
   * Render and wait (`POST /api/v1/create?sync=true`): the finished `Job` (complete or failed)
   * when it ends within the server's sync timeout, else the 202 `RenderAccepted`. Tell them apart
   * with `'poll_url' in result` (or `isAccepted(result)`).
   */
  createRender(input: CreateRenderInput, options: RenderOptions & { sync: boolean }): Promise<CreateRenderResult>;
  async createRender(input: CreateRenderInput, options: RenderOptions = {}): Promise<CreateRenderResult> {
    return this.post<CreateRenderResult>("/api/v1/create", input, options);
  }

  /**
   * Save a design as a template and render it in one step (`POST /api/v1/studio/create-and-render`);
   * one transaction, so a 402 creates neither. Answers `{ job_id, status, poll_url, template_id }`.
   */
  createStudioRender(
    input: StudioRenderInput,
    options?: RenderOptions & { sync?: false },
  ): Promise<StudioRenderAccepted>;
  /**
   * Save a design as a template, render it and wait (`?sync=true`): the finished `Job` (its
   * `template_id` is the new template), or the 202 `StudioRenderAccepted` past the sync timeout
   * (`'poll_url' in result`).
   */
  createStudioRender(input: StudioRenderInput, options: RenderOptions & { sync: boolean }): Promise<StudioRenderResult>;
  async createStudioRender(input: StudioRenderInput, options: RenderOptions = {}): Promise<StudioRenderResult> {
    return this.post<StudioRenderResult>("/api/v1/studio/create-and-render", input, options);
  }

  /**
   * Render a design group (`POST /api/v1/design-groups/create`): a saved group's
   * `design_group_id`, or `template_ids`, with one set of modifications. Always queued: answers
   * with the group job; `getJob`/`waitForJob` show its `items`. Charged for every item at once
   * (402 for all or none); a failed item is refunded alone.
   */
  async createDesignGroupRender(input: DesignGroupRenderInput, options: CreateOptions = {}): Promise<RenderAccepted> {
    return this.post<RenderAccepted>("/api/v1/design-groups/create", input, options);
  }

  /**
   * Preview a document, or a saved template with modifications (`POST /api/v1/previews`): the
   * image inline, for an editor. Free: no job, no charge, nothing stored; `scale` at most 1;
   * background removal is not run (a note says so). Limited per key by its own bucket.
   * @throws ValidationError (400), NotFoundError (404: template), PreviewFailedError (422: the
   * render failed, e.g. an image that cannot be fetched), RateLimitError (429),
   * ServiceUnavailableError (503: no render worker answered in time).
   */
  async preview(input: PreviewInput, options: RequestOptions = {}): Promise<PreviewImage> {
    try {
      const { bytes, headers } = await this.call<{ bytes: Uint8Array; headers: Headers }>("POST", "/api/v1/previews", {
        signal: options.signal,
        json: input,
        binary: true,
      });
      const notes = headers.get("x-preview-notes");
      return {
        bytes,
        content_type: headers.get("content-type") ?? "application/octet-stream",
        render_ms: Number(headers.get("x-render-ms") ?? 0),
        notes: notes ? notes.split("; ") : [],
      };
    } catch (e) {
      // 422 here is the preview's render, not an idempotency key.
      if (e instanceof IdempotencyConflictError) throw new PreviewFailedError(e.message, e.status, e.body);
      throw e;
    }
  }

  /**
   * Read a job (`GET /api/v1/create/:job_id`): status, and once final `output_url`, `render_ms`,
   * `error`, `completed_at`; send_to progress; `items` for group jobs.
   * @throws NotFoundError for an unknown job or another organisation's.
   */
  async getJob(jobId: string, options: RequestOptions = {}): Promise<Job> {
    return this.call<Job>("GET", `/api/v1/create/${seg(jobId)}`, options);
  }

  /**
   * Wait until the job is settled and return it: `failed`, or `complete` with no send_to or a
   * final one (`send_to_status` `delivered` or `failed`).
   *
   * Subscribes to `jobStatus(jobId)` over graphql-ws (one shared, lazy connection per client),
   * converting each event to the REST `Job` shape; the last one is returned as is (no extra
   * REST read). Falls back to polling `GET /api/v1/create/:job_id` every `pollIntervalMs` when
   * there is no WebSocket implementation, the connection fails or closes, or the subscription
   * answers with errors (an unknown job or a bad key then surface as `NotFoundError` /
   * `AuthenticationError` from REST). While polling, 429, 503, 502/504 and network errors are
   * waited out; other errors are thrown.
   * @throws WaitTimeoutError after `timeoutMs`; the signal's reason when `signal` aborts.
   */
  async waitForJob(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const { timeoutMs, signal, onUpdate, onFallback } = options;
    const pollIntervalMs = options.pollIntervalMs ?? this.pollIntervalMs;
    signal?.throwIfAborted();
    const stop = new AbortController();
    const forward = () => stop.abort(signal?.reason);
    signal?.addEventListener("abort", forward, { once: true });
    const timer =
      timeoutMs !== undefined
        ? setTimeout(() => stop.abort(new WaitTimeoutError(jobId, timeoutMs)), timeoutMs)
        : undefined;
    let rank = -1;
    const onState = (job: Job) => {
      const next = progressRank(job);
      if (next <= rank) return;
      rank = next;
      onUpdate?.(job);
    };
    try {
      const live = this.live();
      let reason: unknown;
      if (live) {
        const outcome = await followJob(live, jobId, onState, stop.signal);
        if ("job" in outcome) return outcome.job;
        reason = outcome.fallback;
      } else {
        reason = new LiveUnavailable("no WebSocket implementation (pass webSocketImpl; in Node 20, the ws package)");
      }
      onFallback?.(reason);
      return await this.pollUntilSettled(jobId, onState, pollIntervalMs, stop.signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
  }

  /**
   * The webhook attempts of a job (`GET /api/v1/create/:job_id/deliveries`), oldest first.
   */
  async deliveries(jobId: string, options: RequestOptions = {}): Promise<WebhookAttempt[]> {
    return (await this.call<{ data: WebhookAttempt[] }>("GET", `/api/v1/create/${seg(jobId)}/deliveries`, options))
      .data;
  }

  /**
   * Send a final job's webhook event again, same `webhook-id`, on a fresh retry schedule
   * (`POST /api/v1/create/:job_id/redeliver`).
   * @throws ValidationError when the job has no webhook_url or is not final yet.
   */
  async redeliver(jobId: string, options: RequestOptions = {}): Promise<{ ok: true; job_id: string }> {
    return this.call("POST", `/api/v1/create/${seg(jobId)}/redeliver`, options);
  }

  /**
   * Render a saved template (`template_id`) or a `design` and send it to a destination
   * (`POST /api/v1/studio/export/<destination>`); the body carries the destination's fields
   * (e.g. `url` for `webhook`, `access_token` and `path` for `dropbox`, `preset_id` for `preset`).
   *
   * Branch on `result.async`: `true` (queued: `async: true` in the body, or the work outlasted
   * the server's sync timeout) gives only `job_id`; `false` (done) gives `ok`, `outputUrl` and
   * the destination's identifiers, or `ok: false` with `error` when the render or send failed.
   */
  async exportDesign<D extends ExportDestination>(
    destination: D,
    body: ExportBody<D>,
    options: CreateOptions = {},
  ): Promise<ExportResult> {
    return this.post<ExportResult>(`/api/v1/studio/export/${seg(destination)}`, body, options);
  }

  // ---------------------------------------------------------------------------- templates

  /** Templates: create, list, read, update (a new version), delete, and the version history. */
  readonly templates = {
    /**
     * Save a template (`POST /api/v1/templates`): answers it with `version: 1`.
     * @throws ValidationError naming the JSON path of each problem in the document.
     */
    create: (input: TemplateInput, options: RequestOptions = {}): Promise<Template> =>
      this.call("POST", "/api/v1/templates", { ...options, json: input }),
    /** A page of templates, newest first (`GET /api/v1/templates?limit&cursor`). */
    list: (page: PageOptions = {}, options: RequestOptions = {}): Promise<Page<Template>> =>
      this.call("GET", "/api/v1/templates", { ...options, query: { limit: page.limit, cursor: page.cursor } }),
    /** One template (`GET /api/v1/templates/:id`). @throws NotFoundError */
    get: (templateId: string, options: RequestOptions = {}): Promise<Template> =>
      this.call("GET", `/api/v1/templates/${seg(templateId)}`, options),
    /** Replace the document (`PUT /api/v1/templates/:id`): answers it with `version` + 1. Jobs already accepted keep what they asked for. */
    update: (templateId: string, input: TemplateInput, options: RequestOptions = {}): Promise<Template> =>
      this.call("PUT", `/api/v1/templates/${seg(templateId)}`, { ...options, json: input }),
    /** Delete (`DELETE /api/v1/templates/:id`): gone from reads and new jobs; existing jobs and outputs keep working. */
    delete: async (templateId: string, options: RequestOptions = {}): Promise<void> => {
      await this.call("DELETE", `/api/v1/templates/${seg(templateId)}`, options);
    },
    /** Every version, newest first (`GET /api/v1/templates/:id/versions`). */
    versions: async (templateId: string, options: RequestOptions = {}): Promise<TemplateVersion[]> =>
      (await this.call<{ data: TemplateVersion[] }>("GET", `/api/v1/templates/${seg(templateId)}/versions`, options))
        .data,
  };

  // ---------------------------------------------------------------------------- design groups

  /** Design groups: named sets of templates rendered together (`createDesignGroupRender`). */
  readonly designGroups = {
    /** Save a group (`POST /api/v1/design-groups`). @throws ValidationError naming a template that is not yours. */
    create: (input: DesignGroupInput, options: RequestOptions = {}): Promise<DesignGroup> =>
      this.call("POST", "/api/v1/design-groups", { ...options, json: input }),
    /** A page of groups, newest first (`GET /api/v1/design-groups`). */
    list: (page: PageOptions = {}, options: RequestOptions = {}): Promise<Page<DesignGroup>> =>
      this.call("GET", "/api/v1/design-groups", { ...options, query: { limit: page.limit, cursor: page.cursor } }),
    /** One group (`GET /api/v1/design-groups/:id`). @throws NotFoundError */
    get: (designGroupId: string, options: RequestOptions = {}): Promise<DesignGroup> =>
      this.call("GET", `/api/v1/design-groups/${seg(designGroupId)}`, options),
    /** Replace its name and templates (`PUT /api/v1/design-groups/:id`). */
    update: (designGroupId: string, input: DesignGroupInput, options: RequestOptions = {}): Promise<DesignGroup> =>
      this.call("PUT", `/api/v1/design-groups/${seg(designGroupId)}`, { ...options, json: input }),
    /** Delete (`DELETE /api/v1/design-groups/:id`). @throws NotFoundError */
    delete: async (designGroupId: string, options: RequestOptions = {}): Promise<void> => {
      await this.call("DELETE", `/api/v1/design-groups/${seg(designGroupId)}`, options);
    },
  };

  // ---------------------------------------------------------------------------- billing

  /** The organisation's money, in integer cents. */
  readonly billing = {
    /** Balance, status and prices (`GET /api/v1/billing`). */
    get: (options: RequestOptions = {}): Promise<Account> => this.call("GET", "/api/v1/billing", options),
    /** A page of the ledger, newest first (`GET /api/v1/billing/ledger?limit&cursor`). */
    ledger: (page: PageOptions = {}, options: RequestOptions = {}): Promise<Page<LedgerEntry>> =>
      this.call("GET", "/api/v1/billing/ledger", { ...options, query: { limit: page.limit, cursor: page.cursor } }),
  };

  // ---------------------------------------------------------------------------- delivery

  /** Saved Send-To destinations; use one as `send_to: { type: "preset", preset_id }`. */
  readonly sendToPresets = {
    /** Save a destination (`POST /api/v1/send-to-presets`); credentials come back masked. */
    create: (input: SendToPresetInput, options: RequestOptions = {}): Promise<SendToPreset> =>
      this.call("POST", "/api/v1/send-to-presets", { ...options, json: input }),
    /** Every preset (`GET /api/v1/send-to-presets`). */
    list: async (options: RequestOptions = {}): Promise<SendToPreset[]> =>
      (await this.call<{ data: SendToPreset[] }>("GET", "/api/v1/send-to-presets", options)).data,
    /** One preset (`GET /api/v1/send-to-presets/:id`). @throws NotFoundError */
    get: (presetId: string, options: RequestOptions = {}): Promise<SendToPreset> =>
      this.call("GET", `/api/v1/send-to-presets/${seg(presetId)}`, options),
    /** Replace a preset (`PUT /api/v1/send-to-presets/:id`). */
    update: (presetId: string, input: SendToPresetInput, options: RequestOptions = {}): Promise<SendToPreset> =>
      this.call("PUT", `/api/v1/send-to-presets/${seg(presetId)}`, { ...options, json: input }),
    /** Delete a preset (`DELETE /api/v1/send-to-presets/:id`). */
    delete: async (presetId: string, options: RequestOptions = {}): Promise<void> => {
      await this.call("DELETE", `/api/v1/send-to-presets/${seg(presetId)}`, options);
    },
  };

  /** The organisation's webhook signing secret (verify events with `templified/webhooks`). */
  readonly webhooks = {
    /** The current secret (`GET /api/v1/webhooks/secret`). */
    secret: (options: RequestOptions = {}): Promise<WebhookSecret> =>
      this.call("GET", "/api/v1/webhooks/secret", options),
    /** A new secret; the previous one keeps signing alongside for 24 hours (`POST /api/v1/webhooks/secret/rotate`). */
    rotateSecret: (options: RequestOptions = {}): Promise<WebhookSecret> =>
      this.call("POST", "/api/v1/webhooks/secret/rotate", options),
  };

  /**
   * Signed render URLs: anyone may GET one without a key; its first GET renders (charged once),
   * later GETs serve the stored image. To build them without a request, use `signRenderUrl` with
   * the secret from `signedUrls.secret()`.
   */
  readonly signedUrls = {
    /** A signed URL for this render (`POST /api/v1/signed-urls`); nothing is rendered or charged yet. */
    create: (input: SignedRenderInput, options: RequestOptions = {}): Promise<SignedUrl> =>
      this.call("POST", "/api/v1/signed-urls", { signal: options.signal, json: input }),
    /** The URL signing secret and the org id URLs carry (`GET /api/v1/signed-urls/secret`). */
    secret: (options: RequestOptions = {}): Promise<UrlSigningSecret> =>
      this.call("GET", "/api/v1/signed-urls/secret", options),
    /** A new secret; URLs signed with the previous one keep working for 24 hours (`POST /api/v1/signed-urls/secret/rotate`). */
    rotateSecret: (options: RequestOptions = {}): Promise<UrlSigningSecret> =>
      this.call("POST", "/api/v1/signed-urls/secret/rotate", options),
  };

  // ---------------------------------------------------------------------------- fonts

  /** Uploaded fonts (TTF, OTF, WOFF), usable as `font_family` in the organisation's templates. */
  readonly fonts = {
    /**
     * Upload a font file (`POST /api/v1/fonts`); family, weight and style are read from the file
     * unless given. Uploading the same family, weight and style again replaces the face.
     */
    upload: (
      file: Blob | ArrayBuffer | Uint8Array,
      upload: FontUploadOptions = {},
      options: RequestOptions = {},
    ): Promise<Font> =>
      this.call("POST", "/api/v1/fonts", {
        ...options,
        query: { family: upload.family, weight: upload.weight, style: upload.style },
        raw: { body: file, contentType: upload.contentType ?? "application/octet-stream" },
      }),
    /** The built-in families and your uploads (`GET /api/v1/fonts`). */
    list: (options: RequestOptions = {}): Promise<FontList> => this.call("GET", "/api/v1/fonts", options),
    /** Remove an uploaded face (`DELETE /api/v1/fonts/:id`). */
    delete: async (fontId: string, options: RequestOptions = {}): Promise<void> => {
      await this.call("DELETE", `/api/v1/fonts/${seg(fontId)}`, options);
    },
  };

  // ---------------------------------------------------------------------------- misc

  /**
   * `GET /health`: `{ status: "ok" }` when PostgreSQL and Redis answer.
   * @throws ServiceUnavailableError (503) when either does not.
   */
  async health(options: RequestOptions = {}): Promise<{ status: string }> {
    return this.call("GET", "/health", options);
  }

  /** Close the WebSocket connection, if one is open (it also closes by itself when no wait is running). */
  async close(): Promise<void> {
    const live = this.liveClient;
    this.liveClient = undefined;
    try {
      await live?.dispose();
    } catch {
      // a connection that was failing anyway
    }
  }

  // ---------------------------------------------------------------------------- plumbing

  private live(): GraphQLWsClient | undefined {
    if (this.liveClient) return this.liveClient;
    if (this.webSocketImpl === null) return undefined;
    const impl = this.webSocketImpl ?? globalWebSocket();
    if (!impl) return undefined;
    this.liveClient = createLiveClient(this.wsUrl, this.apiKey, impl);
    return this.liveClient;
  }

  private async pollUntilSettled(
    jobId: string,
    onState: (job: Job) => void,
    intervalMs: number,
    signal: AbortSignal,
  ): Promise<Job> {
    for (;;) {
      let wait = intervalMs;
      try {
        const job = await this.getJob(jobId, { signal });
        onState(job);
        if (isSettled(job)) return job;
      } catch (e) {
        if (signal.aborted) throw abortReason(signal);
        // Passing trouble is waited out (the caller's timeoutMs bounds it); anything else is final.
        if (e instanceof RateLimitError) wait = Math.max(intervalMs, e.retryAfterSeconds * 1000);
        else if (e instanceof ServiceUnavailableError) wait = Math.max(intervalMs, (e.retryAfterSeconds ?? 1) * 1000);
        else if (!(e instanceof NetworkError || (e instanceof ServerError && (e.status === 502 || e.status === 504))))
          throw e;
      }
      await sleep(wait, signal);
    }
  }

  private post<T>(path: string, body: unknown, options: RenderOptions): Promise<T> {
    return this.call<T>("POST", path, {
      signal: options.signal,
      json: body,
      query: options.sync ? { sync: "true" } : undefined,
      headers: options.idempotencyKey !== undefined ? { "idempotency-key": options.idempotencyKey } : undefined,
    });
  }

  private async call<T>(method: string, path: string, call: Call = {}): Promise<T> {
    let url = this.baseUrl + path;
    const params = Object.entries(call.query ?? {}).filter(
      (entry): entry is [string, string | number | boolean] => entry[1] !== undefined,
    );
    if (params.length)
      url += `?${new URLSearchParams(params.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    const headers: Record<string, string> = {
      accept: "application/json",
      ...this.extraHeaders,
      authorization: `Bearer ${this.apiKey}`,
      ...call.headers,
    };
    let body: string | Blob | ArrayBuffer | Uint8Array | undefined;
    if (call.raw) {
      headers["content-type"] = call.raw.contentType;
      body = call.raw.body;
    } else if (call.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(call.json);
    }
    const doFetch = this.fetchImpl ?? globalThis.fetch;
    if (typeof doFetch !== "function") throw new NetworkError("no fetch implementation: pass options.fetch");
    const { signal } = call;
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method, headers, body: body as RequestInit["body"], ...(signal ? { signal } : {}) });
      if (call.binary && res.ok) return { bytes: new Uint8Array(await res.arrayBuffer()), headers: res.headers } as T;
      text = await res.text();
    } catch (e) {
      if (signal?.aborted) throw abortReason(signal);
      throw new NetworkError(`${method} ${url} failed: ${e instanceof Error ? e.message : String(e)}`, 0, undefined, {
        cause: e,
      });
    }
    let parsed: unknown = undefined;
    let isJson = true;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
        isJson = false;
      }
    }
    if (!res.ok) throw errorFromResponse(res.status, parsed, res.headers);
    if (!isJson)
      throw new TemplifiedError(`${method} ${url}: the answer (HTTP ${res.status}) is not JSON`, res.status, parsed);
    return parsed as T;
  }
}
