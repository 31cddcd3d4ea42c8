// The properties panel: every field of the selected layer's type (src/templates/document.ts has
// the meaning, defaults and limits of each; the inputs carry the same limits), or the canvas's
// size and background when nothing is selected.
import type { Background, Layer, LayerChanges, TemplateDocument } from "../state/document-reducer.js";
import { CheckboxField, ColorField, CommitField, NumberField, SelectField, TextField, type Commit } from "./fields.js";

const FONT_WEIGHTS = [100, 200, 300, 400, 500, 600, 700, 800, 900] as const;
const MAX_CANVAS = 5000;
const COORD = { min: -MAX_CANVAS, max: MAX_CANVAS * 2 };

export interface LayerPropertiesProps {
  layer: Layer;
  locked: boolean;
  /** The families the organisation can use (shipped and uploaded). */
  fontFamilies: string[];
  onChange: (changes: LayerChanges, coalesce?: string) => void;
  /** False when the name is refused (empty or taken). */
  onRename: (to: string) => boolean;
}

export function LayerProperties({ layer, locked, fontFamilies, onChange, onRename }: LayerPropertiesProps) {
  /** A setter for one field: one undo step per field while it is being typed in. */
  const set =
    <K extends keyof LayerChanges>(field: K): Commit<LayerChanges[K]> =>
    (value, coalesce) =>
      onChange({ [field]: value }, coalesce);
  const key = (field: string) => `${layer.name}.${field}`;

  return (
    <div className="properties" data-layer={layer.name}>
      <h2>
        {{ text: "Text", image: "Image", rect: "Rectangle", ellipse: "Ellipse" }[layer.type]} layer
        {locked && <span className="pill">locked</span>}
      </h2>
      <CommitField
        label="Name"
        value={layer.name}
        maxLength={100}
        hint="Modifications address the layer by this name."
        onCommit={(to) => void (to !== layer.name && onRename(to))}
      />
      <fieldset>
        <legend>Position and size (px)</legend>
        <div className="grid2">
          <NumberField
            label="X"
            value={layer.x}
            {...COORD}
            coalesce={key("x")}
            disabled={locked}
            onChange={(v) => v !== undefined && set("x")(v, key("x"))}
          />
          <NumberField
            label="Y"
            value={layer.y}
            {...COORD}
            coalesce={key("y")}
            disabled={locked}
            onChange={(v) => v !== undefined && set("y")(v, key("y"))}
          />
          <NumberField
            label="Width"
            value={layer.width}
            min={1}
            max={MAX_CANVAS * 2}
            coalesce={key("width")}
            disabled={locked}
            onChange={(v) => v !== undefined && v > 0 && set("width")(v, key("width"))}
          />
          <NumberField
            label="Height"
            value={layer.height}
            min={1}
            max={MAX_CANVAS * 2}
            coalesce={key("height")}
            disabled={locked}
            onChange={(v) => v !== undefined && v > 0 && set("height")(v, key("height"))}
          />
          <NumberField
            label="Rotation (°)"
            value={layer.rotation}
            min={-360}
            max={360}
            coalesce={key("rotation")}
            disabled={locked}
            onChange={(v) => v !== undefined && set("rotation")(v, key("rotation"))}
          />
          <NumberField
            label="Opacity"
            value={layer.opacity}
            min={0}
            max={1}
            step={0.05}
            coalesce={key("opacity")}
            onChange={(v) => v !== undefined && set("opacity")(Math.min(1, Math.max(0, v)), key("opacity"))}
          />
        </div>
        <CheckboxField label="Hidden" checked={layer.hidden} onChange={(v) => set("hidden")(v)} />
      </fieldset>
      {layer.type === "text" && <TextProperties layer={layer} set={set} k={key} fontFamilies={fontFamilies} />}
      {layer.type === "image" && <ImageProperties layer={layer} set={set} k={key} />}
      {(layer.type === "rect" || layer.type === "ellipse") && <ShapeProperties layer={layer} set={set} k={key} />}
    </div>
  );
}

type Setter = <K extends keyof LayerChanges>(field: K) => Commit<LayerChanges[K]>;
interface TypeProps<L> {
  layer: L;
  set: Setter;
  k: (field: string) => string;
}

function TextProperties({
  layer,
  set,
  k,
  fontFamilies,
}: TypeProps<Extract<Layer, { type: "text" }>> & { fontFamilies: string[] }) {
  const families = fontFamilies.includes(layer.font_family) ? fontFamilies : [...fontFamilies, layer.font_family];
  return (
    <fieldset>
      <legend>Text</legend>
      <TextField
        label="Text"
        value={layer.text}
        multiline
        maxLength={10_000}
        coalesce={k("text")}
        onChange={set("text")}
      />
      <div className="grid2">
        <SelectField label="Font family" value={layer.font_family} options={families} onChange={set("font_family")} />
        <SelectField
          label="Weight"
          value={layer.font_weight}
          options={FONT_WEIGHTS}
          onChange={(v) => set("font_weight")(v)}
        />
        <SelectField
          label="Style"
          value={layer.font_style}
          options={["normal", "italic"] as const}
          onChange={set("font_style")}
        />
        <NumberField
          label="Font size (px)"
          value={layer.font_size}
          min={1}
          max={1000}
          coalesce={k("font_size")}
          onChange={(v) => v !== undefined && v >= 1 && set("font_size")(v, k("font_size"))}
        />
      </div>
      <ColorField
        label="Colour"
        value={layer.color}
        coalesce={k("color")}
        onChange={(v) => v && set("color")(v, k("color"))}
      />
      <ColorField
        label="Box background"
        value={layer.background_color}
        optional
        coalesce={k("background_color")}
        onChange={set("background_color")}
      />
      <div className="grid2">
        <SelectField
          label="Align"
          value={layer.align}
          options={["left", "center", "right"] as const}
          onChange={set("align")}
        />
        <SelectField
          label="Vertical align"
          value={layer.vertical_align}
          options={["top", "middle", "bottom"] as const}
          onChange={set("vertical_align")}
        />
        <NumberField
          label="Letter spacing (px)"
          value={layer.letter_spacing}
          min={-50}
          max={200}
          step={0.5}
          coalesce={k("letter_spacing")}
          onChange={(v) => v !== undefined && set("letter_spacing")(v, k("letter_spacing"))}
        />
        <NumberField
          label="Line height (× size)"
          value={layer.line_height}
          min={0.5}
          max={5}
          step={0.05}
          coalesce={k("line_height")}
          onChange={(v) => v !== undefined && v >= 0.5 && set("line_height")(v, k("line_height"))}
        />
        <NumberField
          label="Max lines"
          value={layer.max_lines}
          min={1}
          max={1000}
          optional
          placeholder="no limit"
          coalesce={k("max_lines")}
          onChange={(v) => set("max_lines")(v === undefined ? undefined : Math.max(1, Math.round(v)), k("max_lines"))}
        />
        <SelectField
          label="Transform"
          value={layer.text_transform}
          options={["none", "uppercase", "lowercase"] as const}
          onChange={set("text_transform")}
        />
      </div>
      <CheckboxField
        label="Auto-fit: shrink to fit the box"
        checked={layer.auto_fit}
        onChange={(v) => set("auto_fit")(v)}
      />
      {layer.auto_fit && (
        <NumberField
          label="Smallest font size (px)"
          value={layer.min_font_size}
          min={1}
          max={layer.font_size}
          coalesce={k("min_font_size")}
          onChange={(v) => v !== undefined && v >= 1 && set("min_font_size")(v, k("min_font_size"))}
        />
      )}
    </fieldset>
  );
}

function ImageProperties({ layer, set, k }: TypeProps<Extract<Layer, { type: "image" }>>) {
  return (
    <fieldset>
      <legend>Image</legend>
      <CommitField
        label="Image URL"
        type="url"
        value={layer.image_url ?? ""}
        placeholder="https://… (empty: the placeholder colour)"
        hint="Press Enter to apply. The server fetches it (public addresses only)."
        onCommit={(url) => set("image_url")(url === "" ? undefined : url)}
      />
      <div className="grid2">
        <SelectField
          label="Fit"
          value={layer.fit}
          options={["cover", "contain", "fill"] as const}
          onChange={set("fit")}
        />
        <NumberField
          label="Corner radius (px)"
          value={layer.radius}
          min={0}
          max={MAX_CANVAS}
          coalesce={k("radius")}
          onChange={(v) => v !== undefined && v >= 0 && set("radius")(v, k("radius"))}
        />
        <NumberField
          label="Focal point X (0–1)"
          value={layer.focal_x}
          min={0}
          max={1}
          step={0.05}
          coalesce={k("focal_x")}
          onChange={(v) => v !== undefined && set("focal_x")(Math.min(1, Math.max(0, v)), k("focal_x"))}
        />
        <NumberField
          label="Focal point Y (0–1)"
          value={layer.focal_y}
          min={0}
          max={1}
          step={0.05}
          coalesce={k("focal_y")}
          onChange={(v) => v !== undefined && set("focal_y")(Math.min(1, Math.max(0, v)), k("focal_y"))}
        />
      </div>
      <ColorField
        label="Placeholder colour"
        value={layer.placeholder_color}
        coalesce={k("placeholder_color")}
        onChange={(v) => v && set("placeholder_color")(v, k("placeholder_color"))}
      />
      <CheckboxField
        label="Remove the background"
        checked={layer.remove_background}
        hint="Applied by renders (priced on top); previews may leave it out and say so below the canvas."
        onChange={(v) => set("remove_background")(v)}
      />
    </fieldset>
  );
}

function ShapeProperties({ layer, set, k }: TypeProps<Extract<Layer, { type: "rect" | "ellipse" }>>) {
  return (
    <fieldset>
      <legend>Shape</legend>
      <ColorField
        label="Fill"
        value={layer.fill}
        coalesce={k("fill")}
        onChange={(v) => v && set("fill")(v, k("fill"))}
      />
      <ColorField
        label="Stroke colour"
        value={layer.stroke_color}
        optional
        coalesce={k("stroke_color")}
        onChange={set("stroke_color")}
      />
      <div className="grid2">
        <NumberField
          label="Stroke width (px)"
          value={layer.stroke_width}
          min={0}
          max={500}
          coalesce={k("stroke_width")}
          onChange={(v) => v !== undefined && v >= 0 && set("stroke_width")(v, k("stroke_width"))}
        />
        {layer.type === "rect" && (
          <NumberField
            label="Corner radius (px)"
            value={layer.radius}
            min={0}
            max={MAX_CANVAS}
            coalesce={k("radius")}
            onChange={(v) => v !== undefined && v >= 0 && set("radius")(v, k("radius"))}
          />
        )}
      </div>
    </fieldset>
  );
}

// ---- the canvas ----

type CanvasChanges = Partial<Pick<TemplateDocument, "width" | "height" | "background">>;

export function CanvasProperties({
  document: doc,
  onChange,
}: {
  document: TemplateDocument;
  onChange: (changes: CanvasChanges, coalesce?: string) => void;
}) {
  const background = doc.background;
  const kind = typeof background === "string" ? "color" : background.type === "image" ? "image" : "gradient";
  const switchKind = (to: string) => {
    if (to === kind) return;
    const fallback = typeof background === "string" ? background : "#ffffff";
    const next: Background =
      to === "color"
        ? fallback === "transparent"
          ? "#ffffff"
          : fallback
        : to === "gradient"
          ? {
              type: "linear_gradient",
              angle: 180,
              stops: [
                { color: "#0f172a", offset: 0 },
                { color: "#312e81", offset: 1 },
              ],
            }
          : { type: "image", image_url: "https://example.com/background.jpg", fit: "cover" };
    onChange({ background: next });
  };
  return (
    <div className="properties" data-canvas="">
      <h2>Canvas</h2>
      <p className="hint">Select a layer on the canvas or in the list to edit it.</p>
      <div className="grid2">
        <NumberField
          label="Width (px)"
          value={doc.width}
          min={1}
          max={MAX_CANVAS}
          coalesce="canvas.width"
          onChange={(v) =>
            v !== undefined && v >= 1 && v <= MAX_CANVAS && onChange({ width: Math.round(v) }, "canvas.width")
          }
        />
        <NumberField
          label="Height (px)"
          value={doc.height}
          min={1}
          max={MAX_CANVAS}
          coalesce="canvas.height"
          onChange={(v) =>
            v !== undefined && v >= 1 && v <= MAX_CANVAS && onChange({ height: Math.round(v) }, "canvas.height")
          }
        />
      </div>
      <SelectField
        label="Background"
        value={kind}
        options={[
          { value: "color", label: "Colour" },
          { value: "gradient", label: "Linear gradient" },
          { value: "image", label: "Image" },
        ]}
        onChange={switchKind}
      />
      {typeof background === "string" && (
        <ColorField
          label="Background colour"
          value={background}
          coalesce="canvas.background"
          onChange={(v) => v && onChange({ background: v }, "canvas.background")}
        />
      )}
      {typeof background !== "string" && background.type === "linear_gradient" && (
        <fieldset>
          <legend>Gradient</legend>
          <NumberField
            label="Angle (° , 90 = left to right)"
            value={background.angle}
            min={-360}
            max={360}
            coalesce="canvas.angle"
            onChange={(v) => v !== undefined && onChange({ background: { ...background, angle: v } }, "canvas.angle")}
          />
          {background.stops.map((stop, i) => (
            <div className="stop" key={i}>
              <ColorField
                label={`Stop ${i + 1} colour`}
                value={stop.color}
                coalesce={`canvas.stop${i}.color`}
                onChange={(v) =>
                  v &&
                  onChange(
                    {
                      background: {
                        ...background,
                        stops: background.stops.map((s, j) => (j === i ? { ...s, color: v } : s)),
                      },
                    },
                    `canvas.stop${i}.color`,
                  )
                }
              />
              <NumberField
                label={`Stop ${i + 1} offset (0–1)`}
                value={stop.offset}
                min={0}
                max={1}
                step={0.05}
                coalesce={`canvas.stop${i}.offset`}
                onChange={(v) =>
                  v !== undefined &&
                  v >= 0 &&
                  v <= 1 &&
                  onChange(
                    {
                      background: {
                        ...background,
                        stops: background.stops.map((s, j) => (j === i ? { ...s, offset: v } : s)),
                      },
                    },
                    `canvas.stop${i}.offset`,
                  )
                }
              />
              <button
                type="button"
                className="ghost small"
                disabled={background.stops.length <= 2}
                aria-label={`Remove stop ${i + 1}`}
                onClick={() =>
                  onChange({ background: { ...background, stops: background.stops.filter((_, j) => j !== i) } })
                }
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            className="secondary small"
            disabled={background.stops.length >= 16}
            onClick={() =>
              onChange({ background: { ...background, stops: [...background.stops, { color: "#ffffff", offset: 1 }] } })
            }
          >
            Add a stop
          </button>
        </fieldset>
      )}
      {typeof background !== "string" && background.type === "image" && (
        <fieldset>
          <legend>Background image</legend>
          <CommitField
            label="Image URL"
            type="url"
            value={background.image_url}
            hint="Press Enter to apply."
            onCommit={(url) => url && onChange({ background: { ...background, image_url: url } })}
          />
          <SelectField
            label="Fit"
            value={background.fit}
            options={["cover", "contain", "fill"] as const}
            onChange={(fit) => onChange({ background: { ...background, fit } })}
          />
        </fieldset>
      )}
    </div>
  );
}
