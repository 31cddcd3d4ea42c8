// The same render request three ways, for the saved template: curl, the REST JSON body, and the
// GraphQL mutation. The key is shown as $TEMPLIFIED_KEY, never the real one.
import { useState } from "react";
import { renderSnippets, type SnippetTab } from "../state/snippets.js";
import { tabKeyDown } from "./tabs.js";
import type { Format } from "./Toolbar.js";

type Tab = SnippetTab;
const TABS = ["curl", "rest", "graphql"] as const;
const tabId = (t: Tab) => `code-tab-${t}`;

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
  const snippets = renderSnippets(window.location.origin, templateId, format);
  const copy = () => void navigator.clipboard?.writeText(snippets[tab]).catch(() => undefined);
  return (
    <div className="code-panel">
      <div className="row">
        <div role="tablist" aria-label="Request as">
          {TABS.map((t) => (
            <button
              key={t}
              type="button"
              role="tab"
              id={tabId(t)}
              aria-selected={tab === t}
              aria-controls="code"
              tabIndex={tab === t ? 0 : -1}
              className={tab === t ? "tab active" : "tab"}
              onClick={() => setTab(t)}
              onKeyDown={(e) => tabKeyDown(e, TABS, tab, setTab, tabId)}
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
      <pre id="code" role="tabpanel" data-tab={tab} aria-labelledby={tabId(tab)} tabIndex={0}>
        <code>{snippets[tab]}</code>
      </pre>
    </div>
  );
}
