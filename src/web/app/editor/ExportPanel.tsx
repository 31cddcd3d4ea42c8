// Export: render the saved template and send it to a Send-To preset or a webhook URL through the
// Studio export routes (POST /api/v1/studio/export/preset | /webhook). The answer is branched on
// `async` as the contract says: when true only job_id is known (the status and the delivery then
// follow live); when false the output URL and the destination's identifiers are there at once.
import type { Client } from "graphql-ws";
import { useEffect, useState } from "react";
import { rest } from "../api.js";
import type { Preset } from "../types.js";
import type { Format } from "./Toolbar.js";
import { useLiveJob } from "./useLiveJob.js";

export interface ExportPanelProps {
  apiKey: string;
  client: Client;
  templateId: string | null;
  format: Format;
  dirty: boolean;
  onSave: () => Promise<boolean>;
  onProblem: (problem: unknown) => void;
  onBalanceChange: () => void;
}

type ExportAnswer =
  | { ok: true; async: true; job_id: string }
  | { ok: boolean; async: false; job_id: string; outputUrl?: string; error?: string; [identifier: string]: unknown };

export function ExportPanel(props: ExportPanelProps) {
  const [presets, setPresets] = useState<Preset[]>([]);
  const [destination, setDestination] = useState("webhook");
  const [webhookUrl, setWebhookUrl] = useState("");
  const [queue, setQueue] = useState(true);
  const [answer, setAnswer] = useState<ExportAnswer | null>(null);
  const [busy, setBusy] = useState(false);
  const [live, watch, reset] = useLiveJob(props.client);

  useEffect(() => {
    rest<{ data: Preset[] }>(props.apiKey, "GET", "/api/v1/send-to-presets")
      .then((list) => setPresets(list.data))
      .catch(() => setPresets([]));
  }, [props.apiKey]);

  const send = async () => {
    if (!props.templateId) return;
    setBusy(true);
    setAnswer(null);
    reset();
    props.onProblem(null);
    try {
      if (props.dirty && !(await props.onSave())) return;
      const common = { template_id: props.templateId, format: props.format, async: queue };
      const [route, body] =
        destination === "webhook"
          ? ["/api/v1/studio/export/webhook", { ...common, url: webhookUrl }]
          : ["/api/v1/studio/export/preset", { ...common, preset_id: destination }];
      const startedAt = performance.now();
      const result = await rest<ExportAnswer>(props.apiKey, "POST", route, body);
      setAnswer(result);
      props.onBalanceChange();
      // Branch on async before reading anything else.
      if (result.async) {
        watch(
          {
            id: result.job_id,
            status: "pending",
            templateId: props.templateId,
            outputUrl: null,
            renderMs: null,
            error: null,
            createdAt: new Date().toISOString(),
            sendToStatus: null,
            sendToError: null,
          },
          startedAt,
        );
      }
    } catch (e) {
      props.onProblem(e);
    } finally {
      setBusy(false);
    }
  };

  const identifiers =
    answer && !answer.async
      ? Object.entries(answer).filter(([k]) => !["ok", "async", "job_id", "outputUrl", "error"].includes(k))
      : [];

  return (
    <div className="export-panel">
      <div className="row wrap">
        <label htmlFor="export-destination">Destination</label>
        <select id="export-destination" value={destination} onChange={(e) => setDestination(e.target.value)}>
          <option value="webhook">Webhook URL</option>
          {presets.map((p) => (
            <option key={p.preset_id} value={p.preset_id}>
              Preset: {p.name} ({p.type})
            </option>
          ))}
        </select>
        {destination === "webhook" && (
          <>
            <label htmlFor="export-url" className="visually-hidden">
              Webhook URL
            </label>
            <input
              id="export-url"
              type="url"
              placeholder="https://example.com/hook"
              value={webhookUrl}
              onChange={(e) => setWebhookUrl(e.target.value)}
            />
          </>
        )}
        <span className="field checkbox">
          <input id="export-async" type="checkbox" checked={queue} onChange={(e) => setQueue(e.target.checked)} />
          <label htmlFor="export-async">Queue (async)</label>
        </span>
        <button
          type="button"
          id="export"
          className="primary"
          disabled={!props.templateId || busy}
          onClick={() => void send()}
        >
          {busy ? "Exporting…" : "Export"}
        </button>
      </div>
      {presets.length === 0 && <p className="hint">No Send-To presets yet (POST /api/v1/send-to-presets saves one).</p>}
      {answer && (
        <div id="export-result" className="export-result" data-async={String(answer.async)}>
          {answer.async ? (
            <p>
              <strong>Queued</strong> (<code>"async": true</code>): only <code>job_id</code> {answer.job_id} is known
              yet.
              {live.job && (
                <>
                  {" "}
                  Render: <span data-status={live.job.status}>{live.job.status}</span>
                  {live.job.sendToStatus && (
                    <>
                      {" "}
                      · delivery: <span data-send-to-status={live.job.sendToStatus}>{live.job.sendToStatus}</span>
                    </>
                  )}
                  {live.job.sendToError && <> ({live.job.sendToError})</>}
                </>
              )}
            </p>
          ) : (
            <p>
              <strong>{answer.ok ? "Sent" : "Failed"}</strong> (<code>"async": false</code>): job {answer.job_id}
              {answer.outputUrl && (
                <>
                  {" "}
                  ·{" "}
                  <a href={answer.outputUrl} target="_blank" rel="noopener noreferrer">
                    image
                  </a>
                </>
              )}
              {answer.error && <> · {answer.error}</>}
              {identifiers.map(([k, v]) => (
                <span key={k}>
                  {" "}
                  · {k}: <code>{String(v)}</code>
                </span>
              ))}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
