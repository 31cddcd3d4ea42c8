// The job domain's shared parts: its dependencies, the client view, reads, and announcing
// changes on the event bus. Accepting jobs is in accept.ts, status transitions in transitions.ts.
// REST and GraphQL call these; neither holds a rule of its own.
import type { Logger } from "pino";
import type { PriceTable } from "../billing/prices.js";
import type { Prisma } from "../db/client.js";
import type { Sql } from "../db/sql.js";
import type { Page, PageQuery } from "../db/pagination.js";
import type { EventBus } from "../events/bus.js";
import type { Job } from "../generated/prisma/client.js";
import type { DeliverQueue } from "../queue/deliver-queue.js";
import type { RenderQueue } from "../queue/render-queue.js";
import type { OutputLinks } from "../storage/output-links.js";
import type { Storage } from "../storage/storage.js";
import { NotFoundError } from "../errors.js";
import { findGroupItems, findJobForOrg, listJobsForOrg, type JobListFilter } from "./job-repository.js";
import { jobView, type JobView } from "./view.js";

export interface JobsDeps {
  prisma: Prisma;
  /** The same database, for the hot statements (src/db/sql.ts). */
  sql: Sql;
  renderQueue: RenderQueue;
  deliverQueue: DeliverQueue;
  secretsKey: Buffer;
  events: EventBus;
  storage: Storage;
  outputLinks: OutputLinks;
  prices: PriceTable;
  logger: Logger;
}

/** The poll body of a job; a group job lists its items. */
export async function viewOf(deps: Pick<JobsDeps, "outputLinks" | "prisma">, job: Job): Promise<JobView> {
  const items = job.kind === "group" ? inGroupOrder(job, await findGroupItems(deps.prisma, job.id)) : undefined;
  // Links may take a call to make (a signature, an S3 presign): made first, then the view from them.
  // A deleted output keeps a link to the API, which answers 410 for it.
  const links = new Map<string, string>();
  await Promise.all(
    [job, ...(items ?? [])].map(async (j) => {
      if (j.status === "complete" && j.outputKey)
        links.set(j.outputKey, await deps.outputLinks.url(j.outputKey, { deleted: j.outputDeletedAt !== null }));
    }),
  );
  return jobView(job, (key) => links.get(key)!, items);
}

/**
 * A group's items in the order of its template_ids (ids are random, so the rows' order is not
 * the group's): `output_urls[i]` is the output of the i-th template a client asked for.
 */
function inGroupOrder(group: Job, items: Job[]): Job[] {
  const ids = (group.input as { template_ids?: unknown } | null)?.template_ids;
  if (!Array.isArray(ids)) return items;
  const position = (item: Job) => {
    const at = ids.indexOf(item.templateId);
    return at === -1 ? ids.length : at;
  };
  return [...items].sort((a, b) => position(a) - position(b) || a.id.localeCompare(b.id));
}

/** Publishes the job's current view. Best effort: the database already holds the change. */
export async function announce(
  deps: Pick<JobsDeps, "events" | "outputLinks" | "prisma" | "logger">,
  job: Job,
): Promise<void> {
  try {
    await deps.events.publishJob({ org_id: job.orgId, job: await viewOf(deps, job) });
  } catch (err) {
    deps.logger.warn({ err, jobId: job.id }, "could not publish job event");
  }
}

/** The organisation's job, or NotFoundError — another organisation's job does not exist. */
export async function getJob(deps: Pick<JobsDeps, "prisma">, orgId: string, jobId: string): Promise<Job> {
  const job = await findJobForOrg(deps.prisma, orgId, jobId);
  if (!job) throw new NotFoundError("job not found");
  return job;
}

/** The organisation's jobs, newest first, keyset-paginated. */
export async function listJobs(
  deps: Pick<JobsDeps, "prisma">,
  orgId: string,
  filter: JobListFilter,
  page: PageQuery,
): Promise<Page<Job>> {
  return listJobsForOrg(deps.prisma, orgId, filter, page);
}
