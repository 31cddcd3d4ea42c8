// Slots shared fairly between organisations inside one worker process: the CPU stage (renders
// drawing and encoding at once, RENDER_CPU_SLOTS) and the fetch stage (images downloaded ahead of
// their render, RENDER_FETCH_SLOTS). Waiters are served round-robin by key (the organisation) and
// first come, first served within a key; a key may hold at most `perKeyMax` slots at once, so one
// organisation's slow downloads cannot take every fetch slot.
//
// A waiter asks for all the slots it needs at once (never holding some while waiting for more), so
// waiters cannot deadlock one another. The longest-waiting key in the rotation is never passed over
// for lack of free slots: smaller requests behind it do not starve it.

export type Release = () => void;

interface Waiter {
  n: number;
  grant: (release: Release) => void;
}

export class FairSlots {
  private used = 0;
  private readonly usedBy = new Map<string, number>();
  /** Keys with waiters, in rotation order (the next to serve first), and each key's waiters in order. */
  private readonly queues = new Map<string, Waiter[]>();

  constructor(
    readonly capacity: number,
    readonly perKeyMax: number = capacity,
  ) {
    if (!(capacity >= 1) || !(perKeyMax >= 1)) throw new Error("FairSlots: capacity and perKeyMax must be at least 1");
  }

  /** Slots held now (all keys). */
  get inUse(): number {
    return this.used;
  }

  /** Waiters not yet served (all keys). */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** The most one acquire may ask for. */
  get maxPerAcquire(): number {
    return Math.min(this.capacity, this.perKeyMax);
  }

  /**
   * Waits until `n` slots (at most maxPerAcquire; 0 resolves at once) are granted to `key`, and
   * resolves to the function that gives them back (calling it again does nothing).
   */
  acquire(key: string, n = 1): Promise<Release> {
    if (n > this.maxPerAcquire)
      throw new Error(`FairSlots: ${n} slots asked for, at most ${this.maxPerAcquire} at once`);
    if (n <= 0) return Promise.resolve(() => {});
    return new Promise<Release>((resolve) => {
      const queue = this.queues.get(key);
      if (queue) queue.push({ n, grant: resolve });
      else this.queues.set(key, [{ n, grant: resolve }]);
      this.pump();
    });
  }

  /** Runs `fn` holding one slot for `key`. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private pump(): void {
    for (;;) {
      let granted = false;
      for (const [key, queue] of this.queues) {
        const head = queue[0]!;
        const held = this.usedBy.get(key) ?? 0;
        if (held + head.n > this.perKeyMax) continue; // this key is at its share: others may go
        if (this.used + head.n > this.capacity) return; // not enough free: it is next, nobody overtakes it
        queue.shift();
        // Served: the key goes to the back of the rotation (or leaves it when it has no more waiters).
        this.queues.delete(key);
        if (queue.length) this.queues.set(key, queue);
        this.used += head.n;
        this.usedBy.set(key, held + head.n);
        head.grant(this.releaser(key, head.n));
        granted = true;
        break;
      }
      if (!granted) return;
    }
  }

  private releaser(key: string, n: number): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
      const left = (this.usedBy.get(key) ?? 0) - n;
      if (left > 0) this.usedBy.set(key, left);
      else this.usedBy.delete(key);
      this.pump();
    };
  }
}
