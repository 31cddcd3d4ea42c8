// The page around the editor: the API key (kept in localStorage), the organisation's balance and
// the live connection in the top bar, and errors said plainly. The editor appears once connected.
import type { Client } from "graphql-ws";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, gql, liveClient, type LiveState } from "./api.js";
import { Editor } from "./editor/Editor.js";
import { VIEWER } from "./queries.js";
import { dollars, type Organization, type TypedError } from "./types.js";

const KEY_STORAGE = "templified.apiKey";
const LIVE_LABELS: Record<LiveState, string> = {
  connecting: "connecting…",
  live: "● live",
  offline: "offline",
  refused: "live refused",
};

/** What went wrong, as the banner shows it: a message and, for validation errors, each field. */
export interface Problem {
  message: string;
  fields?: string[];
}

function problemOf(error: unknown): Problem {
  if (typeof error === "object" && error !== null && "__typename" in error) {
    const typed = error as TypedError;
    return { message: typed.message, fields: typed.fields?.map((f) => `${f.path}: ${f.message}`) };
  }
  return { message: error instanceof ApiError || error instanceof Error ? error.message : String(error) };
}

interface Connection {
  key: string;
  client: Client;
}

export function App() {
  const [keyInput, setKeyInput] = useState(() => localStorage.getItem(KEY_STORAGE) ?? "");
  const [connection, setConnection] = useState<Connection | null>(null);
  const [org, setOrg] = useState<Organization | null>(null);
  const [live, setLive] = useState<LiveState>("offline");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [connecting, setConnecting] = useState(false);
  const balanceTimer = useRef(0);
  /** The editor's question before its unsaved changes are thrown away (null: no editor). */
  const discardGuard = useRef<(() => boolean) | null>(null);
  const mayCloseEditor = () => discardGuard.current?.() ?? true;

  const disconnect = useCallback(() => {
    setConnection((current) => {
      void current?.client.dispose();
      return null;
    });
    setOrg(null);
  }, []);

  const connect = useCallback(
    async (key: string) => {
      disconnect();
      setProblem(null);
      setConnecting(true);
      try {
        const { viewer } = await gql<{ viewer: { organization: Organization } }>(key, VIEWER);
        localStorage.setItem(KEY_STORAGE, key);
        setOrg(viewer.organization);
        setConnection({ key, client: liveClient(key, setLive) });
      } catch (e) {
        setProblem(problemOf(e));
      } finally {
        setConnecting(false);
      }
    },
    [disconnect],
  );

  // Reconnect with the saved key on load.
  useEffect(() => {
    const saved = localStorage.getItem(KEY_STORAGE);
    if (saved) void connect(saved);
  }, [connect]);

  /** The balance moves when a render is accepted (charge) or fails (refund): once per burst. */
  const refreshBalance = useCallback(() => {
    if (!connection) return;
    window.clearTimeout(balanceTimer.current);
    balanceTimer.current = window.setTimeout(() => {
      gql<{ viewer: { organization: Organization } }>(connection.key, VIEWER)
        .then(({ viewer }) => setOrg(viewer.organization))
        .catch(() => undefined);
    }, 250);
  }, [connection]);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const key = keyInput.trim();
    // Connecting again closes the editor (and with it any unsaved changes).
    if (key && mayCloseEditor()) void connect(key);
  };

  const forget = () => {
    if (!mayCloseEditor()) return;
    localStorage.removeItem(KEY_STORAGE);
    setKeyInput("");
    disconnect();
    setProblem(null);
  };

  return (
    <>
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            T
          </span>{" "}
          Templified <span className="brand-sub">Studio</span>
        </div>
        <form id="key-form" className="key-form" autoComplete="off" onSubmit={onSubmit}>
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            type="password"
            spellCheck={false}
            placeholder="tk_live_…"
            required
            value={keyInput}
            onChange={(e) => setKeyInput(e.target.value)}
          />
          <button type="submit" id="connect" className={connection ? "ghost" : "primary"} disabled={connecting}>
            {connecting ? "Connecting…" : "Connect"}
          </button>
          {connection && (
            <button type="button" id="forget" className="ghost" onClick={forget}>
              Forget key
            </button>
          )}
        </form>
        {org && connection && (
          <div id="account" className="account">
            <span id="org-name" className="org-name">
              {org.name}
            </span>
            <span className="pill">
              Balance <strong id="balance">{dollars(org.balanceCents)}</strong>
            </span>
            <span id="org-status" className="pill" data-state={org.status.toLowerCase()}>
              {org.status === "ACTIVE" ? "Active" : "Suspended"}
            </span>
            <span id="live" className="pill live" data-state={live}>
              {LIVE_LABELS[live]}
            </span>
          </div>
        )}
      </header>

      {problem && (
        <div id="error" className="error" role="alert">
          <strong>{problem.message}</strong>
          {problem.fields && problem.fields.length > 0 && (
            <ul>
              {problem.fields.map((f) => (
                <li key={f}>{f}</li>
              ))}
            </ul>
          )}
          <button type="button" className="ghost small" onClick={() => setProblem(null)} aria-label="Dismiss the error">
            ×
          </button>
        </div>
      )}

      {connection && org ? (
        <Editor
          key={connection.key}
          apiKey={connection.key}
          client={connection.client}
          org={org}
          onProblem={(p) => setProblem(p === null ? null : problemOf(p))}
          onBalanceChange={refreshBalance}
          discardGuard={discardGuard}
        />
      ) : (
        <main className="welcome">
          <section className="card">
            <h1>Design templates with the real renderer</h1>
            <p>
              Paste an API key above and connect. It is kept in this browser only (localStorage). An operator creates
              one with <code>npm run admin -- org create</code>.
            </p>
          </section>
        </main>
      )}
    </>
  );
}
