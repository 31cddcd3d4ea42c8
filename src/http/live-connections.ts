// Long-lived connections (graphql-ws sockets, SSE streams) by the API key that opened them.
// Requests re-authenticate every time; a connection authenticated once would outlive its key.
// So every KEY_RECHECK_MS the keys of all open connections are checked again in ONE query, and
// the connections of a revoked or expired key, or of a suspended organisation, are closed: they
// stop within about a second whatever the number of sockets. The same table gives the per-key connection caps.
import type { Logger } from "pino";
import { usableApiKeyIds } from "../auth/api-keys.js";
import type { Prisma } from "../db/client.js";

export interface LiveConnection {
  /** A graphql-ws socket, or an HTTP response (a query, or an SSE subscription stream). */
  kind: "ws" | "http";
  /** Close it because its key no longer works. */
  close(reason: string): void;
  /** Operations in flight on it (subscriptions, and queries or mutations still running). */
  operations(): number;
}

export class LiveConnections {
  private readonly byKey = new Map<string, Set<LiveConnection>>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    private readonly prisma: Prisma,
    private readonly logger: Logger,
  ) {}

  /** Registers a connection; returns the function that forgets it. */
  add(apiKeyId: string, connection: LiveConnection): () => void {
    let set = this.byKey.get(apiKeyId);
    if (!set) this.byKey.set(apiKeyId, (set = new Set()));
    set.add(connection);
    return () => {
      set.delete(connection);
      if (set.size === 0 && this.byKey.get(apiKeyId) === set) this.byKey.delete(apiKeyId);
    };
  }

  /** Open WebSockets of the key (the per-key connection cap counts these). */
  connections(apiKeyId: string): number {
    let n = 0;
    for (const c of this.byKey.get(apiKeyId) ?? []) if (c.kind === "ws") n++;
    return n;
  }

  operations(apiKeyId: string): number {
    let n = 0;
    for (const c of this.byKey.get(apiKeyId) ?? []) n += c.operations();
    return n;
  }

  /** Closes the connections of every key that is no longer usable. */
  async sweep(): Promise<void> {
    if (this.sweeping || this.byKey.size === 0) return;
    this.sweeping = true;
    try {
      const ids = [...this.byKey.keys()];
      const usable = await usableApiKeyIds(this.prisma, ids);
      for (const id of ids) {
        if (usable.has(id)) continue;
        const set = this.byKey.get(id);
        this.byKey.delete(id);
        this.logger.info(
          { apiKeyId: id, connections: set?.size ?? 0 },
          "closing connections of a revoked or expired API key, or a suspended organisation",
        );
        for (const c of set ?? []) c.close("API key revoked or expired, or organisation suspended");
      }
    } catch (err) {
      // The database is away: try again next tick rather than close everyone.
      this.logger.warn({ err: (err as Error).message }, "API key recheck failed");
    } finally {
      this.sweeping = false;
    }
  }

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
