// The layers, topmost first (the document draws them bottom first): select, rename (double-click
// or F2), hide, lock, duplicate, delete, and reorder by dragging, or with Alt+↑/↓ from the keyboard.
import { useState, type DragEvent, type KeyboardEvent } from "react";
import type { Layer } from "../state/document-reducer.js";
import { Icon } from "./icons.js";

export interface LayerListProps {
  layers: Layer[];
  selected: string | null;
  locked: ReadonlySet<string>;
  onSelect: (name: string) => void;
  /** Moves the layer to `index` in drawing order (0 = bottom). */
  onReorder: (name: string, index: number) => void;
  onToggleHidden: (name: string, hidden: boolean) => void;
  onToggleLock: (name: string) => void;
  onDuplicate: (name: string) => void;
  onDelete: (name: string) => void;
  /** False when the name is refused (empty or taken). */
  onRename: (name: string, to: string) => boolean;
}

const TYPE_LABELS: Record<Layer["type"], string> = {
  text: "Text",
  image: "Image",
  rect: "Rectangle",
  ellipse: "Ellipse",
};

export function LayerList(props: LayerListProps) {
  const { layers, selected, locked } = props;
  const [dragging, setDragging] = useState<string | null>(null);
  const [dropIndex, setDropIndex] = useState<number | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  // Topmost first, with each layer's drawing index.
  const rows = layers.map((layer, index) => ({ layer, index })).reverse();

  const onDragOver = (event: DragEvent, index: number) => {
    if (dragging === null) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    setDropIndex(index);
  };
  const onDrop = (event: DragEvent, index: number) => {
    event.preventDefault();
    if (dragging !== null) props.onReorder(dragging, index);
    setDragging(null);
    setDropIndex(null);
  };

  const onRowKey = (event: KeyboardEvent, name: string, index: number) => {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      event.stopPropagation();
      props.onReorder(name, index + (event.key === "ArrowUp" ? 1 : -1));
    } else if (event.key === "F2") {
      event.preventDefault();
      setRenaming(name);
    }
  };

  return (
    <nav className="layers" aria-label="Layers">
      <h2>Layers</h2>
      {layers.length === 0 && <p className="hint">No layers yet: add one from the toolbar.</p>}
      <ul>
        {rows.map(({ layer, index }) => {
          const isLocked = locked.has(layer.name);
          return (
            <li
              key={layer.name}
              data-layer={layer.name}
              className={[
                "layer-row",
                layer.name === selected ? "selected" : "",
                dropIndex === index && dragging !== layer.name ? "drop-target" : "",
                layer.hidden ? "is-hidden" : "",
              ].join(" ")}
              draggable={renaming !== layer.name}
              onDragStart={(e) => {
                setDragging(layer.name);
                e.dataTransfer.effectAllowed = "move";
                e.dataTransfer.setData("text/plain", layer.name);
              }}
              onDragEnd={() => {
                setDragging(null);
                setDropIndex(null);
              }}
              onDragOver={(e) => onDragOver(e, index)}
              onDrop={(e) => onDrop(e, index)}
            >
              <span className={`type-icon type-${layer.type}`} aria-hidden="true" />
              {renaming === layer.name ? (
                <input
                  className="rename"
                  aria-label={`New name for ${layer.name}`}
                  defaultValue={layer.name}
                  autoFocus
                  maxLength={100}
                  onKeyDown={(e) => {
                    if (e.key === "Enter") e.currentTarget.blur();
                    if (e.key === "Escape") setRenaming(null);
                  }}
                  onBlur={(e) => {
                    const to = e.currentTarget.value.trim();
                    if (to !== layer.name) props.onRename(layer.name, to);
                    setRenaming(null);
                  }}
                />
              ) : (
                <button
                  type="button"
                  className="layer-name"
                  aria-pressed={layer.name === selected}
                  aria-label={`${layer.name} (${TYPE_LABELS[layer.type]} layer)`}
                  title="Select; double-click or F2 to rename; Alt+↑/↓ or drag to reorder"
                  onClick={() => props.onSelect(layer.name)}
                  onDoubleClick={() => setRenaming(layer.name)}
                  onKeyDown={(e) => onRowKey(e, layer.name, index)}
                >
                  {layer.name}
                </button>
              )}
              <span className="row-actions">
                <button
                  type="button"
                  className="icon"
                  aria-label={`${layer.hidden ? "Show" : "Hide"} ${layer.name}`}
                  aria-pressed={layer.hidden}
                  title={layer.hidden ? "Show" : "Hide"}
                  onClick={() => props.onToggleHidden(layer.name, !layer.hidden)}
                >
                  <Icon name={layer.hidden ? "eyeOff" : "eye"} />
                </button>
                <button
                  type="button"
                  className="icon"
                  aria-label={`${isLocked ? "Unlock" : "Lock"} ${layer.name}`}
                  aria-pressed={isLocked}
                  title={isLocked ? "Unlock" : "Lock (no moving on the canvas)"}
                  onClick={() => props.onToggleLock(layer.name)}
                >
                  <Icon name={isLocked ? "lock" : "unlock"} />
                </button>
                <button
                  type="button"
                  className="icon"
                  aria-label={`Duplicate ${layer.name}`}
                  title="Duplicate (Ctrl+D)"
                  onClick={() => props.onDuplicate(layer.name)}
                >
                  <Icon name="copy" />
                </button>
                <button
                  type="button"
                  className="icon"
                  aria-label={`Delete ${layer.name}`}
                  title="Delete (Del)"
                  onClick={() => props.onDelete(layer.name)}
                >
                  <Icon name="trash" />
                </button>
              </span>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
