// The canvas: the server's preview of the document (usePreview), with every visible layer's box
// drawn over it in document coordinates scaled to the screen. Boxes follow the mouse at once;
// the preview image follows when the server has drawn it. Drag a box to move it (snapping to the
// canvas's and the other layers' edges and centres; Alt: no snapping), a handle to resize it, the
// round handle to rotate it (Shift: 15° steps). Locked layers let the mouse through.
import { useEffect, useRef, useState, type PointerEvent } from "react";
import type { DocumentAction, Layer, TemplateDocument } from "../state/document-reducer.js";
import {
  fitScale,
  HANDLES,
  previewScale,
  resizeBox,
  rotationTowards,
  roundBox,
  type Handle,
  type RotatedBox,
} from "../state/geometry.js";
import { NO_GUIDES, snapMove, snapResize, snapTargets, type Guides } from "../state/snapping.js";
import { usePreview } from "./usePreview.js";

/** How close (screen pixels) an edge or centre must come to a line to snap to it. */
const SNAP_SCREEN_PX = 6;
/** Room around the canvas inside its area (screen pixels). */
const MARGIN = 24;

export interface CanvasProps {
  apiKey: string;
  document: TemplateDocument;
  selected: string | null;
  locked: ReadonlySet<string>;
  disabled: boolean;
  onSelect: (name: string | null) => void;
  onEdit: (action: DocumentAction, coalesce?: string) => void;
}

interface Gesture {
  kind: "move" | "resize" | "rotate";
  name: string;
  start: RotatedBox;
  pointerX: number;
  pointerY: number;
  handle: Handle;
  /** One undo step per gesture. */
  coalesce: string;
  targets: { xs: number[]; ys: number[] };
}

let gestureCount = 0;

export function Canvas({ apiKey, document: doc, selected, locked, disabled, onSelect, onEdit }: CanvasProps) {
  const areaRef = useRef<HTMLDivElement>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const [area, setArea] = useState({ width: 0, height: 0 });
  const [guides, setGuides] = useState<Guides>(NO_GUIDES);
  const gesture = useRef<Gesture | null>(null);

  useEffect(() => {
    const element = areaRef.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setArea({ width: entry.contentRect.width, height: entry.contentRect.height });
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const scale = fitScale(doc.width, doc.height, area.width - 2 * MARGIN, area.height - 2 * MARGIN);
  const displayWidth = Math.round(doc.width * scale);
  const displayHeight = Math.round(doc.height * scale);
  const imageScale = previewScale(doc.width, displayWidth, window.devicePixelRatio || 1);
  const preview = usePreview(apiKey, disabled || area.width === 0 ? null : doc, imageScale);
  // The server may answer a smaller image than asked (it caps a preview's pixels): the image is
  // stretched over the stage whatever its size, and the status says the scale it really has.
  const [natural, setNatural] = useState<{ url: string; width: number } | null>(null);
  const shownScale =
    preview.image && natural?.url === preview.image.url && preview.image.documentWidth > 0
      ? natural.width / preview.image.documentWidth
      : imageScale;

  const begin = (event: PointerEvent, layer: Layer, kind: Gesture["kind"], handle: Handle = { sx: 0, sy: 0 }) => {
    if (event.button !== 0) return;
    event.stopPropagation();
    onSelect(layer.name);
    if (locked.has(layer.name)) return;
    event.preventDefault();
    stageRef.current?.setPointerCapture(event.pointerId);
    stageRef.current?.focus({ preventScroll: true });
    const others = doc.layers.filter((l) => l.name !== layer.name && !l.hidden);
    gesture.current = {
      kind,
      name: layer.name,
      start: { x: layer.x, y: layer.y, width: layer.width, height: layer.height, rotation: layer.rotation },
      pointerX: event.clientX,
      pointerY: event.clientY,
      handle,
      coalesce: `${kind}:${layer.name}:${++gestureCount}`,
      targets: snapTargets(doc, others),
    };
  };

  const onPointerMove = (event: PointerEvent) => {
    const g = gesture.current;
    if (!g || scale <= 0) return;
    const dx = (event.clientX - g.pointerX) / scale;
    const dy = (event.clientY - g.pointerY) / scale;
    const threshold = event.altKey ? 0 : SNAP_SCREEN_PX / scale;
    let box: RotatedBox;
    let lines: Guides = NO_GUIDES;
    if (g.kind === "move") {
      const snapped = snapMove({ ...g.start, x: g.start.x + dx, y: g.start.y + dy }, g.targets, threshold);
      box = { ...g.start, x: snapped.x, y: snapped.y };
      lines = snapped.guides;
    } else if (g.kind === "resize") {
      box = resizeBox(g.start, g.handle, dx, dy);
      if (box.rotation === 0 && threshold > 0) {
        const snapped = snapResize(box, g.handle, g.targets, threshold);
        box = { ...snapped.box, rotation: 0 };
        lines = snapped.guides;
      }
    } else {
      const rect = stageRef.current?.getBoundingClientRect();
      if (!rect) return;
      const rotation = rotationTowards(
        g.start,
        (event.clientX - rect.left) / scale,
        (event.clientY - rect.top) / scale,
        event.shiftKey ? 15 : 0,
      );
      box = { ...g.start, rotation };
    }
    setGuides(lines);
    const { x, y, width, height, rotation } = roundBox(box);
    onEdit({ type: "update-layer", name: g.name, changes: { x, y, width, height, rotation } }, g.coalesce);
  };

  const end = () => {
    gesture.current = null;
    setGuides(NO_GUIDES);
  };

  const s = (value: number) => value * scale;
  const visible = doc.layers.filter((l) => !l.hidden);

  return (
    <section className="canvas-area" aria-label="Canvas">
      <div className="canvas-space" ref={areaRef}>
        <div
          ref={stageRef}
          className="stage"
          tabIndex={0}
          role="application"
          aria-roledescription="canvas"
          aria-label={`Canvas ${doc.width} × ${doc.height}. Select a layer, then arrow keys move it (Shift: 10 px)`}
          style={{ width: displayWidth, height: displayHeight }}
          onPointerDown={() => onSelect(null)}
          onPointerMove={onPointerMove}
          onPointerUp={end}
          onPointerCancel={end}
          data-scale={scale}
        >
          {preview.image && (
            <img
              id="preview"
              className="preview"
              src={preview.image.url}
              alt="Preview of the template, drawn by the server's renderer"
              draggable={false}
              onLoad={(e) => setNatural({ url: e.currentTarget.src, width: e.currentTarget.naturalWidth })}
            />
          )}
          <div className="overlay">
            {visible.map((layer) => {
              const isSelected = layer.name === selected;
              const isLocked = locked.has(layer.name);
              return (
                <div
                  key={layer.name}
                  className={`box${isSelected ? " selected" : ""}${isLocked ? " locked" : ""}`}
                  data-layer={layer.name}
                  // Tab reaches each box and selects it; the arrow keys then move it (Editor's shortcuts).
                  tabIndex={isLocked ? -1 : 0}
                  role="button"
                  aria-pressed={isSelected}
                  aria-label={`${layer.name} on the canvas at ${layer.x}, ${layer.y}, ${layer.width} × ${layer.height}`}
                  onFocus={() => onSelect(layer.name)}
                  style={{
                    left: s(layer.x),
                    top: s(layer.y),
                    width: s(layer.width),
                    height: s(layer.height),
                    transform: layer.rotation ? `rotate(${layer.rotation}deg)` : undefined,
                  }}
                  onPointerDown={(e) => begin(e, layer, "move")}
                >
                  {isSelected && !isLocked && (
                    <>
                      {Object.entries(HANDLES).map(([id, handle]) => (
                        <span
                          key={id}
                          className={`handle handle-${id}`}
                          data-handle={id}
                          onPointerDown={(e) => begin(e, layer, "resize", handle)}
                        />
                      ))}
                      <span
                        className="handle rotate"
                        data-handle="rotate"
                        title="Rotate (Shift: 15° steps)"
                        onPointerDown={(e) => begin(e, layer, "rotate")}
                      />
                    </>
                  )}
                </div>
              );
            })}
            {guides.vertical.map((x) => (
              <div key={`v${x}`} className="guide vertical" style={{ left: s(x) }} />
            ))}
            {guides.horizontal.map((y) => (
              <div key={`h${y}`} className="guide horizontal" style={{ top: s(y) }} />
            ))}
          </div>
        </div>
      </div>
      <p
        id="preview-status"
        className="preview-status"
        data-state={preview.problem ? "error" : preview.loading ? "loading" : preview.image ? "ok" : "idle"}
      >
        {preview.problem
          ? `Preview: ${preview.problem}`
          : preview.image
            ? `Preview by the renderer${preview.image.renderMs !== null ? ` in ${preview.image.renderMs} ms` : ""} at ${Math.round(shownScale * 100)}% · not charged${preview.loading ? " · updating…" : ""}`
            : disabled
              ? "Pick or add a template."
              : "Preview loading…"}
        {preview.image?.notes && <span className="preview-notes"> · {preview.image.notes}</span>}
      </p>
      {/* The line above changes with every edit, so it is not live; only a problem is announced. */}
      <p id="preview-problem" className="visually-hidden" aria-live="polite">
        {preview.problem ? `Preview: ${preview.problem}` : ""}
      </p>
    </section>
  );
}
