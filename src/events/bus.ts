// The event bus: job status changes on Redis pub/sub, so every API instance (subscriptions,
// sync waits) hears what any worker did. Postgres is written first; events only announce it.
import { Redis } from "ioredis";
import type { JobView } from "../jobs/view.js";

export interface JobEvent {
  org_id: string;
  job: JobView;
}

export const jobChannel = (prefix: string, jobId: string) => `${prefix}:events:job:${jobId}`;
export const orgChannel = (prefix: string, orgId: string) => `${prefix}:events:org:${orgId}`;

type Listener = (event: JobEvent) => void;

export class EventBus {
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly publisher: Redis,
    private readonly prefix: string,
  ) {}

  /** Publishes to the job's channel and its organisation's channel. */
  async publishJob(event: JobEvent): Promise<void> {
    const payload = JSON.stringify(event);
    await this.publisher
      .multi()
      .publish(jobChannel(this.prefix, event.job.job_id), payload)
      .publish(orgChannel(this.prefix, event.org_id), payload)
      .exec();
  }

  /** Listens to one job's events; resolves once Redis confirmed the subscription. */
  subscribeJob(jobId: string, listener: Listener): Promise<() => Promise<void>> {
    return this.subscribe(jobChannel(this.prefix, jobId), listener);
  }

  subscribeOrg(orgId: string, listener: Listener): Promise<() => Promise<void>> {
    return this.subscribe(orgChannel(this.prefix, orgId), listener);
  }

  private async subscribe(channel: string, listener: Listener): Promise<() => Promise<void>> {
    const sub = this.connection();
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await sub.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await sub.unsubscribe(channel).catch(() => {});
    };
  }

  // One subscriber connection per process, multiplexing every channel.
  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const sub = this.publisher.duplicate();
    sub.on("message", (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      const event = JSON.parse(message) as JobEvent;
      for (const l of set) l(event);
    });
    sub.on("error", () => {}); // reconnects on its own; the publisher's errors are logged
    this.subscriber = sub;
    return sub;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.subscriber) await this.subscriber.quit().catch(() => {});
    this.subscriber = null;
  }
}
