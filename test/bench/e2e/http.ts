// A keep-alive HTTP/1.1 JSON client on node:http (undici is not a dependency), and a closed-loop
// load generator: C clients, each sending its next request when the previous answer arrived.
// The C loops share one JsonClient (one API key, one connection pool), or each has its own (one
// organisation per client: its key and its connection).
import http from "node:http";

export interface HttpResult {
  status: number;
  body: string;
  ms: number;
}

export class JsonClient {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    private readonly headers: Record<string, string>,
    maxSockets = 50,
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** One request; `body` is sent as is (pre-serialised JSON). Times out after `timeoutMs`. */
  request(method: string, path: string, body?: string, timeoutMs = 30_000): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const headers: Record<string, string | number> = { ...this.headers };
      if (body !== undefined) {
        headers["content-type"] = "application/json";
        headers["content-length"] = Buffer.byteLength(body);
      }
      const req = http.request(
        { agent: this.agent, host: this.host, port: this.port, method, path, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString("utf8"),
              ms: performance.now() - started,
            }),
          );
          res.on("error", reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadResult {
  /** Latency of every request that got the expected status, ms. */
  latencies: number[];
  /** Bodies of those answers (parsed lazily by the caller). */
  bodies: string[];
  /** Other answers and errors (first few kept). */
  errors: number;
  errorSamples: string[];
  /** Wall time from the first request sent to the last answer received, ms. */
  elapsedMs: number;
  firstAnswerAt: number;
  lastAnswerAt: number;
}

/**
 * `clients` concurrent closed loops. Stops sending after `durationMs` or once `maxRequests` were
 * sent, whichever is first; waits for the ones in flight. With a list of JsonClients, loop k sends
 * through the k-th (modulo its length); `request` gets the request's number and its loop's.
 */
export async function closedLoop(
  client: JsonClient | readonly JsonClient[],
  opts: {
    clients: number;
    durationMs: number;
    maxRequests: number;
    expectStatus: number;
    request: (i: number, loop: number) => { method: string; path: string; body?: string };
  },
): Promise<LoadResult> {
  const pool = Array.isArray(client) ? (client as readonly JsonClient[]) : [client as JsonClient];
  if (pool.length === 0) throw new Error("closedLoop: no client");
  const out: LoadResult = {
    latencies: [],
    bodies: [],
    errors: 0,
    errorSamples: [],
    elapsedMs: 0,
    firstAnswerAt: Infinity,
    lastAnswerAt: 0,
  };
  const started = performance.now();
  const end = started + opts.durationMs;
  let sent = 0;
  const loop = async (loopIndex: number) => {
    const through = pool[loopIndex % pool.length]!;
    while (performance.now() < end && sent < opts.maxRequests) {
      const r = opts.request(sent++, loopIndex);
      try {
        const res = await through.request(r.method, r.path, r.body);
        const now = performance.now();
        out.firstAnswerAt = Math.min(out.firstAnswerAt, now);
        out.lastAnswerAt = Math.max(out.lastAnswerAt, now);
        if (res.status === opts.expectStatus) {
          out.latencies.push(res.ms);
          out.bodies.push(res.body);
        } else {
          out.errors++;
          if (out.errorSamples.length < 5) out.errorSamples.push(`${res.status} ${res.body.slice(0, 200)}`);
        }
      } catch (e) {
        out.errors++;
        if (out.errorSamples.length < 5) out.errorSamples.push(String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, k) => loop(k)));
  out.elapsedMs = performance.now() - started;
  return out;
}
