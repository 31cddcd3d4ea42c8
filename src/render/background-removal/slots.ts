// A counting semaphore with a deadline: background removal takes whole cores for hundreds of
// milliseconds and holds hundreds of MB, so only `limit` run at once in a process and ordinary
// renders (which do not take a slot) keep the rest of the machine. A caller that waits past its
// deadline, or whose signal aborts, leaves the queue without ever running.
export class Slots {
  private running = 0;
  private readonly queue: Array<{ grant: () => void }> = [];
  /** Highest number running at once, and waiting at once, since the last reset (for tests and the bench). */
  peakRunning = 0;
  peakWaiting = 0;

  constructor(private readonly limit: number) {}

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with a release function once a slot is free. Rejects with `onTimeout()` when
   * `deadline` (epoch ms) passes first, or with `onAbort()` when the signal aborts first.
   */
  acquire(
    deadline: number | undefined,
    signal: AbortSignal | undefined,
    onTimeout: () => Error,
    onAbort: () => Error,
  ): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(onAbort());
    if (deadline !== undefined && Date.now() >= deadline) return Promise.reject(onTimeout());
    if (this.running < this.limit) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const leave = (err: Error) => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
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
      const waiter = {
        grant: () => {
          cleanup();
          resolve(this.take());
        },
      };
      signal?.addEventListener("abort", abort, { once: true });
      this.queue.push(waiter);
      this.peakWaiting = Math.max(this.peakWaiting, this.queue.length);
    });
  }

  resetPeaks(): void {
    this.peakRunning = this.running;
    this.peakWaiting = this.queue.length;
  }

  private take(): () => void {
    this.running++;
    this.peakRunning = Math.max(this.peakRunning, this.running);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      // Hand the slot straight to the next waiter (FIFO), so a burst cannot overtake the queue.
      this.queue.shift()?.grant();
    };
  }
}
