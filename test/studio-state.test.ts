// The Studio editor's pure state (src/web/app/state): the document reducer, undo/redo history,
// snapping and box geometry. No browser, no stack.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  createLayer,
  documentReducer,
  findLayer,
  freeName,
  MAX_LAYERS,
  type TemplateDocument,
} from "../src/web/app/state/document-reducer.js";
import {
  fitScale,
  HANDLES,
  normaliseDegrees,
  previewScale,
  resizeBox,
  rotationTowards,
  roundBox,
} from "../src/web/app/state/geometry.js";
import { canRedo, canUndo, HISTORY_LIMIT, initialHistory, isDirty, withHistory } from "../src/web/app/state/history.js";
import { retryAfterMs, RETRY_FALLBACK_MS } from "../src/web/app/state/retry-after.js";
import { renderSnippets, shellQuote } from "../src/web/app/state/snippets.js";
import { snapMove, snapResize, snapTargets, snapValue } from "../src/web/app/state/snapping.js";
import { TemplateDocument as TemplateDocumentSchema } from "../src/templates/document.js";

const empty: TemplateDocument = { width: 1000, height: 500, background: "#ffffff", layers: [] };

describe("document reducer", () => {
  it("creates layers of each type that the API accepts as they are, with free names", () => {
    let doc = empty;
    for (const type of ["text", "image", "rect", "ellipse", "text"] as const) {
      doc = documentReducer(doc, { type: "add-layer", layer: createLayer(doc, type) });
    }
    expect(doc.layers.map((l) => l.name)).toEqual(["text_1", "image_1", "rectangle_1", "ellipse_1", "text_2"]);
    // Every default spelled out: parsing changes nothing.
    expect(TemplateDocumentSchema.parse(doc)).toEqual(doc);
    expect(doc.layers[0]).toMatchObject({ x: 250, y: 200, width: 500, height: 100 });
  });

  it("refuses a duplicate name and more than MAX_LAYERS layers, returning the same document", () => {
    const one = documentReducer(empty, { type: "add-layer", layer: createLayer(empty, "rect") });
    expect(documentReducer(one, { type: "add-layer", layer: one.layers[0]! })).toBe(one);
    let full = empty;
    for (let i = 0; i < MAX_LAYERS; i++)
      full = documentReducer(full, { type: "add-layer", layer: createLayer(full, "rect") });
    expect(full.layers).toHaveLength(MAX_LAYERS);
    expect(documentReducer(full, { type: "add-layer", layer: createLayer(full, "rect") })).toBe(full);
  });

  it("deletes, duplicates above the original, reorders, renames and nudges", () => {
    let doc = empty;
    for (const type of ["rect", "ellipse", "text"] as const)
      doc = documentReducer(doc, { type: "add-layer", layer: createLayer(doc, type) });
    doc = documentReducer(doc, {
      type: "duplicate-layer",
      name: "rectangle_1",
      copyName: freeName(doc, "rectangle_1_copy"),
    });
    expect(doc.layers.map((l) => l.name)).toEqual(["rectangle_1", "rectangle_1_copy_1", "ellipse_1", "text_1"]);
    const copy = findLayer(doc, "rectangle_1_copy_1")!;
    expect([copy.x, copy.y]).toEqual([findLayer(doc, "rectangle_1")!.x + 20, findLayer(doc, "rectangle_1")!.y + 20]);

    doc = documentReducer(doc, { type: "reorder-layer", name: "text_1", index: 0 });
    expect(doc.layers.map((l) => l.name)).toEqual(["text_1", "rectangle_1", "rectangle_1_copy_1", "ellipse_1"]);
    doc = documentReducer(doc, { type: "reorder-layer", name: "text_1", index: 99 });
    expect(doc.layers.at(-1)!.name).toBe("text_1");

    // A rename to a taken or empty name is refused.
    expect(documentReducer(doc, { type: "update-layer", name: "text_1", changes: { name: "ellipse_1" } })).toBe(doc);
    expect(documentReducer(doc, { type: "update-layer", name: "text_1", changes: { name: "" } })).toBe(doc);
    doc = documentReducer(doc, { type: "update-layer", name: "text_1", changes: { name: "title", text: "Hi" } });
    expect(findLayer(doc, "title")).toMatchObject({ type: "text", text: "Hi" });

    const before = findLayer(doc, "title")!;
    doc = documentReducer(doc, { type: "nudge-layer", name: "title", dx: 1, dy: -10 });
    expect(findLayer(doc, "title")).toMatchObject({ x: before.x + 1, y: before.y - 10 });

    doc = documentReducer(doc, { type: "delete-layer", name: "ellipse_1" });
    expect(doc.layers.map((l) => l.name)).not.toContain("ellipse_1");
  });

  it("removes an optional field given undefined, and returns the same document when nothing changes", () => {
    let doc = documentReducer(empty, { type: "add-layer", layer: createLayer(empty, "text") });
    doc = documentReducer(doc, { type: "update-layer", name: "text_1", changes: { max_lines: 2 } });
    expect(findLayer(doc, "text_1")).toHaveProperty("max_lines", 2);
    doc = documentReducer(doc, { type: "update-layer", name: "text_1", changes: { max_lines: undefined } });
    expect(findLayer(doc, "text_1")).not.toHaveProperty("max_lines");
    expect(
      documentReducer(doc, { type: "update-layer", name: "text_1", changes: { x: findLayer(doc, "text_1")!.x } }),
    ).toBe(doc);
    expect(documentReducer(doc, { type: "update-canvas", changes: { width: 1000 } })).toBe(doc);
    expect(documentReducer(doc, { type: "update-canvas", changes: { background: "#000000" } }).background).toBe(
      "#000000",
    );
  });
});

describe("history", () => {
  const reducer = withHistory((n: number, delta: number) => n + delta);

  it("undoes and redoes, and a new edit drops the redo branch", () => {
    let h = initialHistory(0);
    h = reducer(h, { type: "edit", action: 1 });
    h = reducer(h, { type: "edit", action: 2 });
    expect(h.present).toBe(3);
    h = reducer(h, { type: "undo" });
    expect([h.present, canUndo(h), canRedo(h)]).toEqual([1, true, true]);
    h = reducer(h, { type: "redo" });
    expect(h.present).toBe(3);
    h = reducer(h, { type: "undo" });
    h = reducer(h, { type: "edit", action: 10 });
    expect([h.present, canRedo(h)]).toEqual([11, false]);
    h = reducer(reducer(h, { type: "undo" }), { type: "undo" });
    expect([h.present, canUndo(h)]).toEqual([0, false]);
    expect(reducer(h, { type: "undo" })).toBe(h);
  });

  it("makes one step of edits with the same coalesce key (a drag), and none of a no-op", () => {
    let h = initialHistory(0);
    for (let i = 0; i < 5; i++) h = reducer(h, { type: "edit", action: 1, coalesce: "drag:1" });
    h = reducer(h, { type: "edit", action: 1, coalesce: "drag:2" });
    expect([h.present, h.past]).toEqual([6, [0, 5]]);
    expect(reducer(h, { type: "edit", action: 0 })).toBe(h);
    // After an undo the same key starts a new step.
    h = reducer(h, { type: "undo" });
    h = reducer(h, { type: "edit", action: 1, coalesce: "drag:2" });
    expect(h.past).toEqual([0, 5]);
  });

  it("knows unsaved changes against the saved document, and keeps at most HISTORY_LIMIT steps", () => {
    let h = initialHistory(0);
    expect(isDirty(h)).toBe(false);
    h = reducer(h, { type: "edit", action: 1 });
    expect(isDirty(h)).toBe(true);
    h = reducer(h, { type: "saved", document: h.present });
    expect(isDirty(h)).toBe(false);
    h = reducer(h, { type: "undo" });
    expect(isDirty(h)).toBe(true);
    h = reducer(h, { type: "reset", present: 7, saved: 9 });
    expect([h.present, isDirty(h), canUndo(h)]).toEqual([7, true, false]);
    for (let i = 0; i < HISTORY_LIMIT + 50; i++) h = reducer(h, { type: "edit", action: 1 });
    expect(h.past).toHaveLength(HISTORY_LIMIT);
  });

  it("marks as saved the document that was sent, so an edit made during the save stays unsaved", () => {
    const objects = withHistory((doc: { n: number }, delta: number) => ({ n: doc.n + delta }));
    let h = objects(initialHistory({ n: 0 }), { type: "edit", action: 1 });
    const sent = h.present; // the PUT goes with this document
    h = objects(h, { type: "edit", action: 1 }); // typed while the request was on its way
    h = objects(h, { type: "saved", document: sent });
    expect([h.saved, h.present.n, isDirty(h)]).toEqual([sent, 2, true]);
    // Undoing back to what was sent is clean again.
    h = objects(h, { type: "undo" });
    expect([h.present, isDirty(h)]).toEqual([sent, false]);
    // Nothing edited during the save: clean.
    h = objects(h, { type: "saved", document: h.present });
    expect(isDirty(h)).toBe(false);
  });
});

describe("snapping", () => {
  const targets = snapTargets({ width: 1000, height: 500 }, [{ x: 600, y: 100, width: 200, height: 100 }]);

  it("pulls a box's edges or centre onto the canvas's and other boxes' lines within the threshold", () => {
    // Left edge 3 px from the canvas's left edge; centre 2 px from the canvas's middle (250).
    expect(snapMove({ x: 3, y: 202, width: 100, height: 100 }, targets, 5)).toEqual({
      x: 0,
      y: 200,
      guides: { vertical: [0], horizontal: [250] },
    });
    // Right edge 4 px from the other box's left edge (600).
    expect(snapMove({ x: 496, y: 370, width: 100, height: 100 }, targets, 5).x).toBe(500);
    // Nothing within the threshold: unchanged, no guides.
    expect(snapMove({ x: 40, y: 40, width: 100, height: 100 }, targets, 5)).toEqual({
      x: 40,
      y: 40,
      guides: { vertical: [], horizontal: [] },
    });
    // The nearest line wins.
    expect(snapMove({ x: 798, y: 40, width: 10, height: 10 }, targets, 5).x).toBe(800);
  });

  it("snaps the moving edges of a resized box and keeps the opposite ones", () => {
    expect(snapResize({ x: 10, y: 10, width: 587, height: 50 }, HANDLES.e!, targets, 5)).toEqual({
      box: { x: 10, y: 10, width: 590, height: 50 },
      guides: { vertical: [600], horizontal: [] },
    });
    expect(snapResize({ x: 603, y: 10, width: 50, height: 50 }, HANDLES.nw!, targets, 5).box).toEqual({
      x: 600,
      y: 10,
      width: 53,
      height: 50,
    });
    expect(snapValue(503, [500], 2)).toEqual({ value: 503, line: null });
  });
});

describe("geometry", () => {
  it("resizes from a handle keeping the opposite side where it is", () => {
    const box = { x: 100, y: 100, width: 200, height: 100, rotation: 0 };
    expect(resizeBox(box, HANDLES.se!, 50, 20)).toEqual({ ...box, width: 250, height: 120 });
    expect(resizeBox(box, HANDLES.nw!, 50, 20)).toEqual({ ...box, x: 150, y: 120, width: 150, height: 80 });
    expect(resizeBox(box, HANDLES.e!, -500, 0).width).toBe(4); // never below the minimum
  });

  it("resizes a rotated box along its own axes, its anchor staying put on the canvas", () => {
    const box = { x: 0, y: 0, width: 200, height: 100, rotation: 90 };
    // Turned 90° clockwise, the box's right side faces down: dragging the e handle down grows it.
    const out = roundBox(resizeBox(box, HANDLES.e!, 0, 40));
    expect([out.width, out.height]).toEqual([240, 100]);
    // The w handle's point (the anchor) sits at centre + R(90°)·(-100, 0) = (100, -50) before and after.
    const anchor = (b: typeof out) => {
      const cx = b.x + b.width / 2;
      const cy = b.y + b.height / 2;
      return [Math.round(cx), Math.round(cy - b.width / 2)];
    };
    expect(anchor(out)).toEqual(anchor(box));
  });

  it("rotates towards the pointer, in steps with Shift, within (-180, 180]", () => {
    const box = { x: 0, y: 0, width: 100, height: 100 };
    expect(rotationTowards(box, 50, -100)).toBe(0); // straight above the centre
    expect(rotationTowards(box, 200, 50)).toBe(90);
    expect(rotationTowards(box, 50, 200)).toBe(180);
    expect(rotationTowards(box, -100, 50)).toBe(-90);
    expect(rotationTowards(box, 150, -40, 15)).toBe(45);
    expect(normaliseDegrees(540)).toBe(180);
    expect(normaliseDegrees(-190)).toBe(170);
  });

  it("fits the canvas to the screen and asks previews for the pixels the screen shows", () => {
    expect(fitScale(1200, 630, 800, 600)).toBeCloseTo(800 / 1200);
    expect(fitScale(400, 300, 800, 600)).toBe(1);
    expect(previewScale(1200, 800, 1)).toBe(0.67);
    expect(previewScale(1200, 800, 2)).toBe(1);
    expect(previewScale(5000, 100, 1)).toBe(0.1);
  });
});

describe("code panel snippets", () => {
  it("shell-quotes every value, so a copied command runs nothing else", () => {
    const nasty = "it's $(rm -rf ~) `id`\nnext; echo 'x'";
    expect(shellQuote(nasty)).toBe(`'it'\\''s $(rm -rf ~) \`id\`\nnext; echo '\\''x'\\'''`);
    // The shell reads the quoted word back as the value itself.
    const out = execFileSync("sh", ["-c", `printf %s ${shellQuote(nasty)}`], { encoding: "utf8" });
    expect(out).toBe(nasty);
    expect(shellQuote("")).toBe("''");
  });

  it("builds curl with quoted values and the key only as $TEMPLIFIED_KEY, and GraphQL string literals", () => {
    const id = `tpl_'"; $(touch /tmp/x) \`id\``;
    const snippets = renderSnippets("http://localhost:3000", id, "png");
    const curl = snippets.curl
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("\n");
    expect(curl).toContain(`-H "Authorization: Bearer $TEMPLIFIED_KEY"`);
    expect(curl).toContain(`curl -s 'http://localhost:3000/api/v1/create'`);
    expect(curl).toContain(`-d ${shellQuote(JSON.stringify({ template_id: id, format: "png" }))}`);
    expect(snippets.graphql).toContain(`templateId: ${JSON.stringify(id)}, format: png`);
    // Run as a shell command (with curl replaced by printing its arguments): the body comes back whole.
    const printed = execFileSync("sh", ["-c", `curl() { for a in "$@"; do printf '%s\\n' "$a"; done; }\n${curl}`], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, TEMPLIFIED_KEY: "tk_test" },
    });
    expect(printed.split("\n")).toEqual([
      "-s",
      "http://localhost:3000/api/v1/create",
      "-H",
      "Authorization: Bearer tk_test",
      "-H",
      "Content-Type: application/json",
      "-d",
      JSON.stringify({ template_id: id, format: "png" }),
      "",
    ]);
  });
});

describe("Retry-After", () => {
  it("waits the seconds the server asks for, or 3 s when it gives none that make sense", () => {
    expect(retryAfterMs("5")).toBe(5000);
    expect(retryAfterMs(" 2 ")).toBe(2000);
    expect(retryAfterMs(null)).toBe(RETRY_FALLBACK_MS);
    expect(retryAfterMs("soon")).toBe(RETRY_FALLBACK_MS);
    expect(retryAfterMs("0")).toBe(250);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:10 GMT", RETRY_FALLBACK_MS, now)).toBe(10_000);
  });
});
