// Waiting in tests, one way for every file: on the event that matters, or on the state that
// matters by reading it again (vi.waitFor) until it holds. Never a fixed sleep: a sleep is too
// short on a loaded machine and wasted time on a fast one. A wait that gives up says what it was
// waiting for and the last thing it read, well before the test's own timeout.
//
// A delay that is itself the subject (a receiver that answers slowly, a host that never answers)
// is not a wait: it belongs to the fake server that plays it (see respondAfter in
// fake-destinations.ts and ImageHost in image-host.ts).
import { vi } from "vitest";
import type { Prisma } from "../../src/db/client.js";
import type { Stack } from "./stack.js";

/** How long a wait lasts before it fails: generous, for a loaded two-core machine. */
const WAIT_TIMEOUT_MS = 30_000;

export interface WaitOptions {
  /** Give up after this long (default WAIT_TIMEOUT_MS). */
  timeout?: number;
  /** Read again this often (default 50 ms). */
  interval?: number;
  /** What is awaited, for the message when it never comes. */
  what?: string;
}

const show = (value: unknown): string => {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 500);
  } catch {
    return String(value);
  }
};

/**
 * Reads until `ok(value)` holds and returns that value. A read that throws counts as "not yet"
 * (a database that is still coming back, say). On timeout it fails naming `what` and the last value.
 */
export function until<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, opts: WaitOptions = {}): Promise<T> {
  const timeout = opts.timeout ?? WAIT_TIMEOUT_MS;
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!ok(value))
        throw new Error(
          `gave up after ${timeout} ms waiting for ${opts.what ?? "the condition"}; last read: ${show(value)}`,
        );
      return value;
    },
    { timeout, interval: opts.interval ?? 50 },
  );
}

/** Waits until the job is complete or failed, and returns its poll body (REST). */
export function waitForFinal(stack: Stack, apiKey: string, jobId: string, timeoutMs = WAIT_TIMEOUT_MS): Promise<any> {
  return until(
    async () => (await stack.api(apiKey, "GET", `/api/v1/create/${jobId}`)).body,
    (body) => body?.status === "complete" || body?.status === "failed",
    { timeout: timeoutMs, what: `job ${jobId} to be final` },
  );
}

/** Waits until no job of the organisation is pending or processing. */
export async function waitForOrgSettled(prisma: Prisma, orgId: string, timeoutMs = WAIT_TIMEOUT_MS): Promise<void> {
  await until(
    () => prisma.job.count({ where: { orgId, status: { in: ["pending", "processing"] } } }),
    (open) => open === 0,
    { timeout: timeoutMs, interval: 200, what: `every job of ${orgId} to be final (count of pending/processing)` },
  );
}

/**
 * Waits until the stack's render and deliver queues hold nothing waiting, delayed or running: no
 * render, delivery or retry is still to come. What lets a test say "and nothing more happened".
 */
export async function waitForQueuesIdle(stack: Stack, timeoutMs = WAIT_TIMEOUT_MS): Promise<void> {
  const queues = { render: stack.app.ctx.renderQueue.queue, deliver: stack.app.ctx.deliverQueue.queue };
  await until(
    async () => {
      const counts: Record<string, number> = {};
      for (const [name, queue] of Object.entries(queues)) {
        const byState = await queue.getJobCounts("active", "delayed", "prioritized", "waiting", "waiting-children");
        counts[name] = Object.values(byState).reduce((a, b) => a + b, 0);
      }
      return counts;
    },
    (counts) => Object.values(counts).every((n) => n === 0),
    { timeout: timeoutMs, what: "the render and deliver queues to be idle (jobs not yet done, by queue)" },
  );
}

/** Waits until GET url answers 2xx; `describe` adds context (a child process's output) to the failure. */
export async function waitForHttp(
  url: string,
  describe: () => string = () => "",
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<void> {
  try {
    await until(
      () =>
        fetch(url).then(
          (r) => r.status,
          (e: unknown) => String(e),
        ),
      (status) => typeof status === "number" && status >= 200 && status < 300,
      { timeout: timeoutMs, interval: 100, what: `${url} to answer 2xx` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${describe()}`, { cause: err });
  }
}
