// An image host for tests about what happens while an image is on its way (a render in flight
// when a worker is killed, a sync request that falls back to 202, a drain on SIGTERM, a status the
// Studio must show): instead of answering "slowly" and hoping the test looks in time, it holds
// every request until the test releases it. The test waits for the request to arrive (the render
// is then provably in flight), does what it is about, then releases.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { until, type WaitOptions } from "./wait.js";

export interface ImageHost {
  /** http://127.0.0.1:port (any path answers the image). */
  url: string;
  /** Every path requested, in order. */
  requests: string[];
  /** Requests held now (answered neither yet, nor abandoned by their client). */
  held(): number;
  /** Resolves once at least `n` requests are held at the same time. */
  waitForHeld(n?: number, opts?: WaitOptions): Promise<void>;
  /** Answers the requests held now; later ones are held too, until release(). */
  releaseHeld(): void;
  /** Answers every held request, and answers later ones at once until hold() is called again. */
  release(): void;
  /** Holds requests again, from now on. */
  hold(): void;
  close(): Promise<void>;
}

export async function startImageHost(
  image: Buffer,
  opts: { contentType?: string; holding?: boolean; statusFor?: (path: string) => number } = {},
): Promise<ImageHost> {
  const contentType = opts.contentType ?? "image/png";
  const requests: string[] = [];
  const waiting = new Set<ServerResponse>();
  let holding = opts.holding ?? true;
  const answer = (res: ServerResponse) => {
    waiting.delete(res);
    if (!res.destroyed) res.writeHead(200, { "content-type": contentType, "content-length": image.length }).end(image);
  };
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    requests.push(path);
    res.on("error", () => {});
    const status = opts.statusFor?.(path) ?? 200;
    if (status !== 200) return void res.writeHead(status).end();
    if (!holding) return answer(res);
    waiting.add(res);
    res.on("close", () => waiting.delete(res)); // the client went away (a killed worker)
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    held: () => waiting.size,
    async waitForHeld(n = 1, o = {}) {
      await until(
        () => waiting.size,
        (size) => size >= n,
        { interval: 10, what: `${n} image request(s) held at ${url}`, ...o },
      );
    },
    releaseHeld() {
      for (const res of [...waiting]) answer(res);
    },
    release() {
      holding = false;
      for (const res of [...waiting]) answer(res);
    },
    hold() {
      holding = true;
    },
    async close() {
      for (const res of [...waiting]) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
