// The editor: which template is open (and which of its versions), the document with its undo
// history, the selection, and the panels around the canvas. Saving makes a new template version
// (PUT /api/v1/templates/:id); the canvas preview, rendering and exporting read the document or
// the saved template from here.
import type { Client } from "graphql-ws";
import { useCallback, useEffect, useMemo, useReducer, useRef, useState, type RefObject } from "react";
import productCard from "../../../../test/fixtures/product-card.template.json" with { type: "json" };
import quoteCard from "../../../../test/fixtures/quote-card.template.json" with { type: "json" };
import socialCard from "../../../../test/fixtures/social-card.template.json" with { type: "json" };
import { rest } from "../api.js";
import {
  createLayer,
  documentReducer,
  findLayer,
  freeName,
  type DocumentAction,
  type LayerType,
  type TemplateDocument,
} from "../state/document-reducer.js";
import { canRedo, canUndo, initialHistory, isDirty, withHistory } from "../state/history.js";
import { documentOf, type Organization, type TemplateRecord } from "../types.js";
import { Canvas } from "./Canvas.js";
import { CodePanel } from "./CodePanel.js";
import { ExportPanel } from "./ExportPanel.js";
import { LayerList } from "./LayerList.js";
import { CanvasProperties, LayerProperties } from "./Properties.js";
import { RenderPanel } from "./RenderPanel.js";
import { Toolbar, type Format } from "./Toolbar.js";
import { isTypingTarget } from "./keyboard.js";
import { tabKeyDown } from "./tabs.js";

/** The starter templates, bundled at build time from test/fixtures. */
const STARTERS: { name: string }[] = [socialCard, productCard, quoteCard];
const EMPTY: TemplateDocument = { width: 1200, height: 630, background: "#ffffff", layers: [] };
const historyReducer = withHistory(documentReducer);

export interface EditorProps {
  apiKey: string;
  client: Client;
  org: Organization;
  onProblem: (problem: unknown) => void;
  onBalanceChange: () => void;
  /**
   * Set to the editor's "discard the unsaved changes?" question while it is shown, so the page
   * asks it before anything that closes the editor (another key, forgetting the key).
   */
  discardGuard?: RefObject<(() => boolean) | null>;
}

const DOCKS = ["render", "export", "code"] as const;
type Dock = (typeof DOCKS)[number];

export function Editor({ apiKey, client, org, onProblem, onBalanceChange, discardGuard }: EditorProps) {
  const [templates, setTemplates] = useState<TemplateRecord[]>([]);
  const [current, setCurrent] = useState<TemplateRecord | null>(null);
  const [versions, setVersions] = useState<TemplateRecord[]>([]);
  /** The version the editor was opened on (an earlier one: saving makes it the newest). */
  const [openVersion, setOpenVersion] = useState<number | null>(null);
  const [history, dispatchHistory] = useReducer(historyReducer, EMPTY, initialHistory);
  const [selected, setSelected] = useState<string | null>(null);
  /** Locked layers: an editing aid of this session (the template document has no such field). */
  const [locked, setLocked] = useState<ReadonlySet<string>>(new Set());
  const [format, setFormat] = useState<Format>("png");
  const [dock, setDock] = useState<Dock>("render");
  const [busy, setBusy] = useState<string | null>(null);
  /** Font families the renderer has for this organisation: the shipped ones and its uploads. */
  const [fontFamilies, setFontFamilies] = useState<string[]>(["Inter", "Noto Serif", "JetBrains Mono"]);
  const doc = history.present;
  const dirty = isDirty(history);
  const selectedLayer = findLayer(doc, selected);

  const edit = useCallback((action: DocumentAction, coalesce?: string) => {
    dispatchHistory({ type: "edit", action, coalesce });
  }, []);

  // ---- templates and versions ----

  const confirmDiscard = useCallback(
    () => !dirty || window.confirm("This template has unsaved changes. Discard them?"),
    [dirty],
  );

  useEffect(() => {
    if (!discardGuard) return;
    discardGuard.current = confirmDiscard;
    return () => {
      discardGuard.current = null;
    };
  }, [discardGuard, confirmDiscard]);

  const open = useCallback((record: TemplateRecord, latest: TemplateRecord = record) => {
    setCurrent(latest);
    setOpenVersion(record.version === latest.version ? null : record.version);
    // An earlier version opens as unsaved changes to the latest one.
    const document = documentOf(record);
    dispatchHistory({
      type: "reset",
      present: document,
      saved: record.version === latest.version ? document : documentOf(latest),
    });
    setSelected(null);
    setLocked(new Set());
  }, []);

  const loadTemplates = useCallback(
    async (selectId?: string) => {
      const page = await rest<{ data: TemplateRecord[] }>(apiKey, "GET", "/api/v1/templates?limit=100");
      setTemplates(page.data);
      const pick = page.data.find((t) => t.template_id === selectId) ?? (selectId ? undefined : page.data[0]);
      if (pick) open(pick);
    },
    [apiKey, open],
  );

  const loadVersions = useCallback(
    async (templateId: string) => {
      const list = await rest<{ data: TemplateRecord[] }>(apiKey, "GET", `/api/v1/templates/${templateId}/versions`);
      setVersions(list.data);
    },
    [apiKey],
  );

  // Once, when connected (the editor is keyed by the API key); later loads are explicit.
  const loaded = useRef(false);
  useEffect(() => {
    if (loaded.current) return;
    loaded.current = true;
    loadTemplates().catch(onProblem);
  }, [loadTemplates, onProblem]);

  useEffect(() => {
    if (current) loadVersions(current.template_id).catch(onProblem);
  }, [current, loadVersions, onProblem]);

  useEffect(() => {
    rest<{ built_in: { family: string }[]; data: { family: string }[] }>(apiKey, "GET", "/api/v1/fonts")
      .then((fonts) => setFontFamilies([...new Set([...fonts.built_in, ...fonts.data].map((f) => f.family))]))
      .catch(() => undefined); // the shipped families stay listed
  }, [apiKey]);

  // The browser's own warning when leaving with unsaved changes.
  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = ""; // older browsers ask only when this is set
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const run = useCallback(
    async <T,>(label: string, work: () => Promise<T>): Promise<T | undefined> => {
      setBusy(label);
      onProblem(null);
      try {
        return await work();
      } catch (e) {
        onProblem(e);
        return undefined;
      } finally {
        setBusy(null);
      }
    },
    [onProblem],
  );

  const pickTemplate = (id: string) => {
    const record = templates.find((t) => t.template_id === id);
    if (record && confirmDiscard()) open(record);
  };

  const pickVersion = (version: number) => {
    const record = versions.find((v) => v.version === version);
    const latest = versions[0];
    if (record && latest && current && confirmDiscard()) open({ ...record, template_id: current.template_id }, current);
  };

  /** The starters this organisation has no template of (by name): adding makes only those. */
  const missingStarters = STARTERS.filter((starter) => !templates.some((t) => t.name === starter.name));

  const addStarters = () => {
    // Opening the first new starter replaces the document on the canvas.
    if (missingStarters.length === 0 || !confirmDiscard()) return;
    void run("Adding…", async () => {
      let first: string | undefined;
      for (const starter of missingStarters) {
        const created = await rest<TemplateRecord>(apiKey, "POST", "/api/v1/templates", starter);
        first ??= created.template_id;
      }
      await loadTemplates(first);
    });
  };

  const newTemplate = () => {
    if (!confirmDiscard()) return;
    const name = window.prompt("Name of the new template", "Untitled");
    if (name === null) return;
    void run("Creating…", async () => {
      const created = await rest<TemplateRecord>(apiKey, "POST", "/api/v1/templates", {
        name: name || "Untitled",
        ...EMPTY,
      });
      await loadTemplates(created.template_id);
    });
  };

  /** Saves the document as a new version; true when it worked. */
  const save = useCallback(async (): Promise<boolean> => {
    if (!current) return false;
    const saved = await run("Saving…", async () => {
      // The document as it is now: edits made while the request is on its way stay unsaved.
      const sent = doc;
      const body = { name: current.name, ...sent };
      const record = await rest<TemplateRecord>(apiKey, "PUT", `/api/v1/templates/${current.template_id}`, body);
      dispatchHistory({ type: "saved", document: sent });
      setCurrent(record);
      setOpenVersion(null);
      setTemplates((list) => list.map((t) => (t.template_id === record.template_id ? record : t)));
      return true;
    });
    return saved === true;
  }, [apiKey, current, doc, run]);

  // ---- layers ----

  const addLayer = (type: LayerType) => {
    const layer = createLayer(doc, type);
    edit({ type: "add-layer", layer });
    setSelected(layer.name);
  };
  const deleteLayer = (name: string) => {
    edit({ type: "delete-layer", name });
    if (selected === name) setSelected(null);
  };
  const duplicateLayer = (name: string) => {
    const copyName = freeName(doc, `${name}_copy`.slice(0, 90));
    edit({ type: "duplicate-layer", name, copyName });
    setSelected(copyName);
  };
  const renameLayer = (name: string, to: string) => {
    if (!to || to === name || doc.layers.some((l) => l.name === to)) return false;
    edit({ type: "update-layer", name, changes: { name: to } });
    setLocked((set) => (set.has(name) ? new Set([...set].filter((n) => n !== name).concat(to)) : set));
    if (selected === name) setSelected(to);
    return true;
  };
  const toggleLock = (name: string) =>
    setLocked((set) => {
      const next = new Set(set);
      if (next.has(name)) next.delete(name);
      else next.add(name);
      return next;
    });

  // ---- keyboard shortcuts (anywhere but in a text field) ----

  const shortcuts = useRef<(event: KeyboardEvent) => void>(() => undefined);
  shortcuts.current = (event: KeyboardEvent) => {
    const mod = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (mod && key === "s") {
      event.preventDefault();
      if (dirty) void save();
      return;
    }
    if (isTypingTarget(event.target)) return;
    if (mod && key === "z") {
      event.preventDefault();
      dispatchHistory({ type: event.shiftKey ? "redo" : "undo" });
    } else if (mod && key === "y") {
      event.preventDefault();
      dispatchHistory({ type: "redo" });
    } else if (mod && key === "d" && selectedLayer) {
      event.preventDefault();
      duplicateLayer(selectedLayer.name);
    } else if ((key === "delete" || key === "backspace") && selectedLayer && !locked.has(selectedLayer.name)) {
      event.preventDefault();
      deleteLayer(selectedLayer.name);
    } else if (key === "escape") {
      setSelected(null);
    } else if (key.startsWith("arrow") && selectedLayer && !locked.has(selectedLayer.name)) {
      event.preventDefault();
      const step = event.shiftKey ? 10 : 1;
      const dx = key === "arrowleft" ? -step : key === "arrowright" ? step : 0;
      const dy = key === "arrowup" ? -step : key === "arrowdown" ? step : 0;
      // Nudges in a row are one undo step, like a drag.
      edit({ type: "nudge-layer", name: selectedLayer.name, dx, dy }, `nudge:${selectedLayer.name}`);
    }
  };
  useEffect(() => {
    const listener = (event: KeyboardEvent) => shortcuts.current(event);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);

  const price = useMemo(() => {
    const megapixels = (doc.width * doc.height) / 1_000_000;
    const large = megapixels > org.prices.largeAboveMegapixels;
    const removals = doc.layers.filter(
      (l) => l.type === "image" && l.remove_background && !l.hidden && l.image_url,
    ).length;
    return (large ? org.prices.largeCents : org.prices.standardCents) + removals * org.prices.backgroundRemovalCents;
  }, [doc, org]);

  return (
    <main className="editor">
      <Toolbar
        templates={templates}
        current={current}
        versions={versions}
        openVersion={openVersion}
        dirty={dirty}
        busy={busy}
        canUndo={canUndo(history)}
        canRedo={canRedo(history)}
        onPickTemplate={pickTemplate}
        onPickVersion={pickVersion}
        startersMissing={missingStarters.length}
        onAddStarters={addStarters}
        onNewTemplate={newTemplate}
        onAddLayer={addLayer}
        onUndo={() => dispatchHistory({ type: "undo" })}
        onRedo={() => dispatchHistory({ type: "redo" })}
        onSave={() => void save()}
      />
      <LayerList
        layers={doc.layers}
        selected={selected}
        locked={locked}
        onSelect={setSelected}
        onReorder={(name, index) => edit({ type: "reorder-layer", name, index })}
        onToggleHidden={(name, hidden) => edit({ type: "update-layer", name, changes: { hidden } })}
        onToggleLock={toggleLock}
        onDuplicate={duplicateLayer}
        onDelete={deleteLayer}
        onRename={renameLayer}
      />
      <Canvas
        apiKey={apiKey}
        document={doc}
        selected={selected}
        locked={locked}
        disabled={!current}
        onSelect={setSelected}
        onEdit={edit}
      />
      <aside className="inspector" aria-label="Properties">
        {selectedLayer ? (
          <LayerProperties
            key={selectedLayer.name}
            layer={selectedLayer}
            locked={locked.has(selectedLayer.name)}
            fontFamilies={fontFamilies}
            onChange={(changes, coalesce) =>
              edit({ type: "update-layer", name: selectedLayer.name, changes }, coalesce)
            }
            onRename={(to) => renameLayer(selectedLayer.name, to)}
          />
        ) : (
          <CanvasProperties
            document={doc}
            onChange={(changes, coalesce) => edit({ type: "update-canvas", changes }, coalesce)}
          />
        )}
      </aside>
      <section className="dock" aria-label="Render, export and code">
        <div className="tabs" role="tablist" aria-label="Panels">
          {DOCKS.map((tab) => (
            <button
              key={tab}
              type="button"
              role="tab"
              id={`tab-${tab}`}
              aria-selected={dock === tab}
              aria-controls={`panel-${tab}`}
              tabIndex={dock === tab ? 0 : -1}
              className={dock === tab ? "tab active" : "tab"}
              onClick={() => setDock(tab)}
              onKeyDown={(e) => tabKeyDown(e, DOCKS, dock, setDock, (t) => `tab-${t}`)}
            >
              {{ render: "Render", export: "Export", code: "Code" }[tab]}
            </button>
          ))}
          <span className="spacer" />
          <label htmlFor="format" className="inline">
            Format
          </label>
          <select id="format" value={format} onChange={(e) => setFormat(e.target.value as Format)}>
            <option value="png">PNG</option>
            <option value="jpeg">JPEG</option>
            <option value="webp">WebP</option>
          </select>
        </div>
        <div id="panel-render" role="tabpanel" aria-labelledby="tab-render" hidden={dock !== "render"}>
          <RenderPanel
            apiKey={apiKey}
            client={client}
            templateId={current?.template_id ?? null}
            format={format}
            dirty={dirty}
            priceCents={price}
            onSave={save}
            onProblem={onProblem}
            onBalanceChange={onBalanceChange}
          />
        </div>
        <div id="panel-export" role="tabpanel" aria-labelledby="tab-export" hidden={dock !== "export"}>
          <ExportPanel
            apiKey={apiKey}
            client={client}
            templateId={current?.template_id ?? null}
            format={format}
            dirty={dirty}
            onSave={save}
            onProblem={onProblem}
            onBalanceChange={onBalanceChange}
          />
        </div>
        <div id="panel-code" role="tabpanel" aria-labelledby="tab-code" hidden={dock !== "code"}>
          <CodePanel templateId={current?.template_id ?? null} format={format} dirty={dirty} />
        </div>
      </section>
    </main>
  );
}
