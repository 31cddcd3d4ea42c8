// Render (charged): the saved template as a real job (GraphQL createRender), with each status
// shown as the `jobStatus` subscription pushes it, and the image when it is complete. With
// unsaved changes the button saves a new version first, so the render is what the editor shows.
import type { Client } from "graphql-ws";
import { useState } from "react";
import { gql } from "../api.js";
import { CREATE_RENDER } from "../queries.js";
import { dollars, type Job, type TypedError } from "../types.js";
import type { Format } from "./Toolbar.js";
import { RecentJobs } from "./RecentJobs.js";
import { useLiveJob } from "./useLiveJob.js";

export interface RenderPanelProps {
  apiKey: string;
  client: Client;
  templateId: string | null;
  format: Format;
  dirty: boolean;
  priceCents: number;
  onSave: () => Promise<boolean>;
  onProblem: (problem: unknown) => void;
  onBalanceChange: () => void;
}

export function RenderPanel(props: RenderPanelProps) {
  const [live, watch, reset] = useLiveJob(props.client);
  const [busy, setBusy] = useState(false);
  const { job, timeline } = live;

  const render = async () => {
    if (!props.templateId) return;
    setBusy(true);
    props.onProblem(null);
    reset();
    try {
      if (props.dirty && !(await props.onSave())) return;
      const startedAt = performance.now();
      const { createRender } = await gql<{ createRender: (Job & { __typename: "Job" }) | TypedError }>(
        props.apiKey,
        CREATE_RENDER,
        { input: { templateId: props.templateId, format: props.format } },
      );
      if (createRender.__typename !== "Job") return props.onProblem(createRender);
      watch(createRender as Job, startedAt);
      props.onBalanceChange();
    } catch (e) {
      props.onProblem(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="render-panel">
      <div className="row">
        <button
          type="button"
          id="render"
          className="primary"
          disabled={!props.templateId || busy}
          onClick={() => void render()}
        >
          {busy ? "Rendering…" : props.dirty ? "Save and render" : "Render"}
        </button>
        <span className="hint">
          {dollars(props.priceCents)} per render, charged to the balance (previews are free).
        </span>
      </div>
      <ol id="statuses" className="statuses" aria-live="polite" aria-label="Render status">
        {timeline.map(({ status, atMs }) => (
          <li key={status} data-status={status} className={`status status-${status}`}>
            <span className="status-name">{status}</span>
            <span className="status-time">+{atMs} ms</span>
          </li>
        ))}
      </ol>
      {live.problem && <p className="error-inline">{live.problem}</p>}
      {job?.status === "failed" && (
        <p className="error-inline" role="alert">
          The render failed: {job.error ?? "unknown error"}. It was refunded.
        </p>
      )}
      {job?.status === "complete" && job.outputUrl && (
        <figure id="result" className="result">
          <a id="output-link" href={job.outputUrl} target="_blank" rel="noopener noreferrer">
            <img id="output" src={job.outputUrl} alt="The rendered image" />
          </a>
          <figcaption id="output-caption">
            {[job.renderMs !== null && `rendered in ${job.renderMs} ms`, job.id].filter(Boolean).join(" · ")}
          </figcaption>
        </figure>
      )}
      <RecentJobs apiKey={props.apiKey} client={props.client} onBalanceChange={props.onBalanceChange} />
    </div>
  );
}
