// The organisation's recent jobs, kept current by the `jobUpdates` subscription (every status
// change of every job, pushed): renders from this page, from the API, from anywhere.
import type { Client } from "graphql-ws";
import { useEffect, useState } from "react";
import { gql, subscribe } from "../api.js";
import { JOB_UPDATES, JOBS } from "../queries.js";
import { STATUS_RANK, type Job } from "../types.js";

const SHOWN = 6;
/** Jobs remembered (newest first): a long session's pushed updates must not pile up. */
const KEPT = 20;

const newestFirst = (a: Job, b: Job) => b.createdAt.localeCompare(a.createdAt);

export function RecentJobs({
  apiKey,
  client,
  onBalanceChange,
}: {
  apiKey: string;
  client: Client;
  onBalanceChange: () => void;
}) {
  const [jobs, setJobs] = useState<ReadonlyMap<string, Job>>(new Map());

  useEffect(() => {
    let stopped = false;
    const upsert = (job: Job) =>
      setJobs((known) => {
        const before = known.get(job.id);
        if (before && STATUS_RANK[before.status] > STATUS_RANK[job.status]) return known; // never backwards
        const next = new Map(known).set(job.id, { ...before, ...job });
        if (next.size <= KEPT) return next;
        return new Map(
          [...next.values()]
            .sort(newestFirst)
            .slice(0, KEPT)
            .map((j) => [j.id, j]),
        );
      });
    gql<{ jobs: { edges: { node: Job }[] } }>(apiKey, JOBS)
      .then((data) => !stopped && data.jobs.edges.forEach((e) => upsert(e.node)))
      .catch(() => undefined);
    const stop = subscribe<{ jobUpdates: Job }>(
      client,
      JOB_UPDATES,
      {},
      {
        next: ({ jobUpdates }) => {
          upsert(jobUpdates);
          // Accepting charges, failing refunds.
          if (jobUpdates.status === "pending" || jobUpdates.status === "failed") onBalanceChange();
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    return () => {
      stopped = true;
      stop();
    };
  }, [apiKey, client, onBalanceChange]);

  const recent = [...jobs.values()].sort(newestFirst).slice(0, SHOWN);
  return (
    <div className="recent-jobs">
      <h3>Recent jobs</h3>
      {recent.length === 0 && <p className="hint">No jobs yet.</p>}
      <ul id="jobs" aria-live="polite">
        {recent.map((job) => (
          <li key={job.id} data-job-id={job.id} data-status={job.status}>
            <span className={`badge badge-${job.status}`}>{job.status}</span>
            {job.outputUrl ? (
              <a href={job.outputUrl} target="_blank" rel="noopener noreferrer">
                {job.id}
              </a>
            ) : (
              <span>{job.id}</span>
            )}
            <small>
              {job.status === "failed"
                ? (job.error ?? "")
                : job.renderMs !== null
                  ? `${job.renderMs} ms`
                  : new Date(job.createdAt).toLocaleTimeString()}
            </small>
          </li>
        ))}
      </ul>
    </div>
  );
}
