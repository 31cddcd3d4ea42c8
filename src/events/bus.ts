// The event bus: job status changes on Redis pub/sub, so every API instance (subscriptions,
// sync waits) hears what any worker did. Postgres is written first; events only announce it.
// One subscriber connection per process multiplexes every channel; a channel is subscribed
// in Redis while at least one local listener wants it. Events published in the same turn of the
// event loop (the accepts of one batch, say) go to Redis as one pipeline, in the order published.
import type { Redis } from "ioredis";
import type { JobView } from "../jobs/view.js";
import type { PreviewOutcome } from "../queue/preview-queue.js";

export interface JobEvent {
  org_id: string;
  job: JobView;
}

export const jobChannel = (prefix: string, jobId: string) => `${prefix}:events:job:${jobId}`;
export const orgChannel = (prefix: string, orgId: string) => `${prefix}:events:org:${orgId}`;
const previewChannel = (prefix: string, previewId: string) => `${prefix}:events:preview:${previewId}`;

/** Every channel's listeners receive the message's JSON as published; the typed methods below say what it is. */
type Listener = (event: never) => void;

interface Channel {
  listeners: Set<Listener>;
  /** Resolves once Redis confirmed the SUBSCRIBE. */
  ready: Promise<unknown>;
  confirmed: boolean;
}

export class EventBus {
  private subscriber: Redis | null = null;
  private readonly channels = new Map<string, Channel>();
  /** Channel and payload pairs waiting for this turn's pipeline, and its outcome. */
  private outbox: { messages: string[]; sent: Promise<void> } | null = null;

  constructor(
    private readonly publisher: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Publishes to the job's channel and its organisation's channel; resolves once Redis took both
   * (with the rest of this turn's events, in one pipeline).
   */
  publishJob(event: JobEvent): Promise<void> {
    const payload = JSON.stringify(event);
    const outbox = (this.outbox ??= this.openOutbox());
    outbox.messages.push(
      jobChannel(this.prefix, event.job.job_id),
      payload,
      orgChannel(this.prefix, event.org_id),
      payload,
    );
    return outbox.sent;
  }

  private openOutbox(): { messages: string[]; sent: Promise<void> } {
    const messages: string[] = [];
    const sent = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.outbox = null;
      const pipeline = this.publisher.pipeline();
      for (let i = 0; i < messages.length; i += 2) pipeline.publish(messages[i]!, messages[i + 1]!);
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err)?.[0];
      if (failed) throw failed;
    });
    sent.catch(() => {}); // each publisher hears of a failure through its own await
    return { messages, sent };
  }

  /** Listens to one job's events; resolves once Redis confirmed the subscription. */
  subscribeJob(jobId: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>> {
    return this.subscribe(jobChannel(this.prefix, jobId), listener);
  }

  subscribeOrg(orgId: string, listener: (event: JobEvent) => void): Promise<() => Promise<void>> {
    return this.subscribe(orgChannel(this.prefix, orgId), listener);
  }

  /** Listens for a preview's outcome (src/queue/preview-queue.ts); resolves once Redis confirmed it. */
  subscribePreview(previewId: string, listener: (outcome: PreviewOutcome) => void): Promise<() => Promise<void>> {
    return this.subscribe(previewChannel(this.prefix, previewId), listener);
  }

  /** Announces a preview's outcome to the API process waiting for it (at once, not batched). */
  async publishPreview(previewId: string, outcome: PreviewOutcome): Promise<void> {
    await this.publisher.publish(previewChannel(this.prefix, previewId), JSON.stringify(outcome));
  }

  /** Local listeners on channels Redis has confirmed (for tests and metrics). */
  listenerCount(): number {
    let n = 0;
    for (const c of this.channels.values()) if (c.confirmed) n += c.listeners.size;
    return n;
  }

  private async subscribe(channel: string, listener: Listener): Promise<() => Promise<void>> {
    const sub = this.connection();
    let entry = this.channels.get(channel);
    if (!entry) {
      const created: Channel = { listeners: new Set(), ready: sub.subscribe(channel), confirmed: false };
      created.ready.then(
        () => (created.confirmed = true),
        () => {},
      );
      entry = created;
      this.channels.set(channel, entry);
    }
    const mine = entry;
    mine.listeners.add(listener);
    let removed = false;
    const unsubscribe = async () => {
      if (removed) return;
      removed = true;
      mine.listeners.delete(listener);
      if (mine.listeners.size > 0 || this.channels.get(channel) !== mine) return;
      // Delete and UNSUBSCRIBE in the same tick: commands on one connection keep their order, so
      // a new listener's SUBSCRIBE for this channel always comes after this UNSUBSCRIBE.
      this.channels.delete(channel);
      await sub.unsubscribe(channel).catch(() => {});
    };
    try {
      await mine.ready;
    } catch (e) {
      await unsubscribe();
      throw e;
    }
    return unsubscribe;
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const sub = this.publisher.duplicate();
    sub.on("message", (channel: string, message: string) => {
      const entry = this.channels.get(channel);
      if (!entry) return;
      const event = JSON.parse(message) as never;
      for (const l of [...entry.listeners]) l(event);
    });
    sub.on("error", () => {}); // reconnects on its own; the publisher's errors are logged
    this.subscriber = sub;
    return sub;
  }

  async close(): Promise<void> {
    this.channels.clear();
    if (this.subscriber) await this.subscriber.quit().catch(() => {});
    this.subscriber = null;
  }
}
