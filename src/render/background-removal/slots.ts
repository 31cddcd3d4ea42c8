// A counting semaphore with a deadline, fair between keys: background removal takes whole cores
// for hundreds of milliseconds and holds hundreds of MB, so only `limit` run at once in a process
// and ordinary renders (which do not take a slot) keep the rest of the machine. Waiters are served
// round-robin by key (the organisation; first come, first served within a key), so one
// organisation's batch of new photos delays another's removal by at most one removal per slot,
// not by the whole batch. A caller that waits past its deadline, or whose signal aborts, leaves
// the queue without ever running.
interface Waiter {
  grant: () => void;
}

/** The key of callers that give none: they share one turn of the rotation. */
const NO_KEY = "";

export class Slots {
  private running = 0;
  /** Keys with waiters, in rotation order (the next to serve first), and each key's waiters in order. */
  private readonly queues = new Map<string, Waiter[]>();
  /** Highest number running at once, and waiting at once, since the last reset (for tests and the bench). */
  peakRunning = 0;
  peakWaiting = 0;

  constructor(private readonly limit: number) {}

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /**
   * Resolves with a release function once a slot is free and it is `key`'s turn. Rejects with
   * `onTimeout()` when `deadline` (epoch ms) passes first, or with `onAbort()` when the signal
   * aborts first.
   */
  acquire(
    key: string | undefined,
    deadline: number | undefined,
    signal: AbortSignal | undefined,
    onTimeout: () => Error,
    onAbort: () => Error,
  ): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(onAbort());
    if (deadline !== undefined && Date.now() >= deadline) return Promise.reject(onTimeout());
    if (this.running < this.limit && this.queues.size === 0) return Promise.resolve(this.take());
    const k = key ?? NO_KEY;
    return new Promise((resolve, reject) => {
      const leave = (err: Error) => {
        const queue = this.queues.get(k);
        const i = queue?.indexOf(waiter) ?? -1;
        if (queue && i >= 0) {
          queue.splice(i, 1);
          if (queue.length === 0) this.queues.delete(k);
        }
        cleanup();
        reject(err);
      };
      const timer =
        deadline === undefined ? undefined : setTimeout(() => leave(onTimeout()), Math.max(0, deadline - Date.now()));
      const abort = () => leave(onAbort());
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
      };
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          resolve(this.take());
        },
      };
      signal?.addEventListener("abort", abort, { once: true });
      const queue = this.queues.get(k);
      if (queue) queue.push(waiter);
      else this.queues.set(k, [waiter]);
      this.peakWaiting = Math.max(this.peakWaiting, this.waiting);
    });
  }

  resetPeaks(): void {
    this.peakRunning = this.running;
    this.peakWaiting = this.waiting;
  }

  private take(): () => void {
    this.running++;
    this.peakRunning = Math.max(this.peakRunning, this.running);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.grantNext();
    };
  }

  /** Hand a free slot straight to the next key in the rotation (so a burst cannot overtake the queue). */
  private grantNext(): void {
    const next = this.queues.entries().next();
    if (next.done) return;
    const [key, queue] = next.value;
    const waiter = queue.shift()!;
    // Served: the key goes to the back of the rotation, or leaves it when it has no more waiters.
    this.queues.delete(key);
    if (queue.length) this.queues.set(key, queue);
    waiter.grant();
  }
}
