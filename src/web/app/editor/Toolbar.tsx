// The bar above the canvas: the open template and its versions, adding layers, undo and redo,
// and saving a new version.
import type { LayerType } from "../state/document-reducer.js";
import type { TemplateRecord } from "../types.js";

export type Format = "png" | "jpeg" | "webp";

export interface ToolbarProps {
  templates: TemplateRecord[];
  current: TemplateRecord | null;
  versions: TemplateRecord[];
  openVersion: number | null;
  dirty: boolean;
  busy: string | null;
  canUndo: boolean;
  canRedo: boolean;
  onPickTemplate: (id: string) => void;
  onPickVersion: (version: number) => void;
  /** How many starter templates the organisation has not got yet (by name). */
  startersMissing: number;
  onAddStarters: () => void;
  onNewTemplate: () => void;
  onAddLayer: (type: LayerType) => void;
  onUndo: () => void;
  onRedo: () => void;
  onSave: () => void;
}

const ADDABLE: { type: LayerType; label: string; name: string }[] = [
  { type: "text", label: "Text", name: "Add a text layer" },
  { type: "image", label: "Image", name: "Add an image layer" },
  { type: "rect", label: "Rectangle", name: "Add a rectangle layer" },
  { type: "ellipse", label: "Ellipse", name: "Add an ellipse layer" },
];

export function Toolbar(props: ToolbarProps) {
  const { templates, current, versions, openVersion, dirty, busy } = props;
  return (
    <div className="toolbar" role="toolbar" aria-label="Template and layers">
      <div className="group">
        <select
          id="template"
          aria-label="Template"
          value={current?.template_id ?? ""}
          onChange={(e) => props.onPickTemplate(e.target.value)}
        >
          {templates.length === 0 && <option value="">No templates yet</option>}
          {templates.map((t) => (
            <option key={t.template_id} value={t.template_id}>
              {t.name} · {t.width}×{t.height}
            </option>
          ))}
        </select>
        <select
          id="version"
          aria-label="Version"
          value={openVersion ?? current?.version ?? ""}
          disabled={!current}
          onChange={(e) => props.onPickVersion(Number(e.target.value))}
        >
          {versions.length === 0 && current && <option value={current.version}>v{current.version}</option>}
          {versions.map((v, i) => (
            <option key={v.version} value={v.version}>
              v{v.version}
              {i === 0 ? " (latest)" : ""} ·{" "}
              {new Date(v.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
            </option>
          ))}
        </select>
        <button
          type="button"
          className={templates.length === 0 ? "primary" : "secondary"}
          onClick={props.onAddStarters}
          disabled={busy !== null || props.startersMissing === 0}
          title={props.startersMissing === 0 ? "Every starter template is in the list" : undefined}
        >
          Add starters
        </button>
        <button
          type="button"
          className="secondary"
          onClick={props.onNewTemplate}
          disabled={busy !== null}
          title="A new, empty template"
        >
          New
        </button>
      </div>
      <div className="group" role="group" aria-label="Add a layer">
        <span className="group-label" aria-hidden="true">
          Add
        </span>
        {ADDABLE.map(({ type, label, name }) => (
          <button
            key={type}
            type="button"
            className="secondary"
            disabled={!current}
            aria-label={name}
            onClick={() => props.onAddLayer(type)}
          >
            {label}
          </button>
        ))}
      </div>
      <div className="group end">
        <button type="button" onClick={props.onUndo} disabled={!props.canUndo} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" onClick={props.onRedo} disabled={!props.canRedo} title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
        <span id="save-state" className="hint" data-dirty={dirty}>
          {busy ?? (dirty ? "Unsaved changes" : current ? `Saved · v${current.version}` : "")}
        </span>
        <button
          type="button"
          id="save"
          className="primary"
          onClick={props.onSave}
          disabled={!current || !dirty || busy !== null}
          title="Save as a new version (Ctrl+S)"
        >
          Save version
        </button>
      </div>
    </div>
  );
}
