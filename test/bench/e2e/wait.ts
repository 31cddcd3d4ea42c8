// Waiting helpers shared by the end-to-end benchmark and its phases.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Probes every `everyMs` until it returns something truthy (returned), or throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null | undefined | false>,
  everyMs = 50,
): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
