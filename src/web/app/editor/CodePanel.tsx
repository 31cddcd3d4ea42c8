// The same render request three ways, for the saved template: curl, the REST JSON body, and the
// GraphQL mutation. The key is shown as $TEMPLIFIED_KEY, never the real one.
import { useState } from "react";
import type { Format } from "./Toolbar.js";

type Tab = "curl" | "rest" | "graphql";

export function CodePanel({
  templateId,
  format,
  dirty,
}: {
  templateId: string | null;
  format: Format;
  dirty: boolean;
}) {
  const [tab, setTab] = useState<Tab>("curl");
  if (!templateId) return <p className="hint">Pick a template to see its render request.</p>;
  const origin = window.location.origin;
  const body = { template_id: templateId, format };
  const snippets: Record<Tab, string> = {
    curl: [
      `curl -s ${origin}/api/v1/create \\`,
      `  -H "Authorization: Bearer $TEMPLIFIED_KEY" \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d '${JSON.stringify(body)}'`,
      `# 202 {"job_id":"clx_…","status":"pending","poll_url":"/api/v1/create/clx_…"}`,
    ].join("\n"),
    rest: [
      `POST ${origin}/api/v1/create`,
      `Authorization: Bearer $TEMPLIFIED_KEY`,
      ``,
      JSON.stringify(body, null, 2),
    ].join("\n"),
    graphql: [
      `# POST ${origin}/graphql  (Authorization: Bearer $TEMPLIFIED_KEY)`,
      `mutation {`,
      `  createRender(input: { templateId: "${templateId}", format: ${format} }) {`,
      `    __typename`,
      `    ... on Job { id status outputUrl }`,
      `    ... on Error { message }`,
      `  }`,
      `}`,
      `# then: subscription { jobStatus(jobId: "<id>") { status outputUrl } }`,
    ].join("\n"),
  };
  const copy = () => void navigator.clipboard?.writeText(snippets[tab]).catch(() => undefined);
  return (
    <div className="code-panel">
      <div className="row">
        <div role="tablist" aria-label="Request as">
          {(["curl", "rest", "graphql"] as const).map((t) => (
            <button
              key={t}
              type="button"
              role="tab"
              aria-selected={tab === t}
              className={tab === t ? "tab active" : "tab"}
              onClick={() => setTab(t)}
            >
              {{ curl: "curl", rest: "REST JSON", graphql: "GraphQL" }[t]}
            </button>
          ))}
        </div>
        <span className="spacer" />
        <button type="button" className="ghost small" onClick={copy}>
          Copy
        </button>
      </div>
      {dirty && <p className="hint">The template has unsaved changes: this request renders the saved version.</p>}
      <pre id="code" data-tab={tab} aria-label={`Render request as ${tab}`}>
        <code>{snippets[tab]}</code>
      </pre>
    </div>
  );
}
