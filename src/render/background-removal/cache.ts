// Cut-outs kept in memory by source content, least recently used evicted first, bounded by bytes.
// Removing a background costs about a second of CPU, so a batch that puts the same photo on many
// cards (or a retry after a timeout) should pay it once. No expiry: the key is a content hash, so an
// entry can never go stale; only memory pressure (the byte bound) removes it.
export class CutoutCache {
  private readonly entries = new Map<string, Buffer>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Buffer | undefined {
    const value = this.entries.get(key);
    if (value) {
      this.entries.delete(key); // most recently used goes last
      this.entries.set(key, value);
    }
    return value;
  }

  put(key: string, value: Buffer): void {
    // One entry may not take more than a quarter of the cache, so a few huge cut-outs cannot
    // flush everything else (the same rule as the image cache in images.ts).
    if (value.length > this.maxBytes / 4) return;
    this.delete(key);
    this.entries.set(key, value);
    this.total += value.length;
    for (const [k] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.delete(k);
    }
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private delete(key: string): void {
    const old = this.entries.get(key);
    if (!old) return;
    this.entries.delete(key);
    this.total -= old.length;
  }
}
