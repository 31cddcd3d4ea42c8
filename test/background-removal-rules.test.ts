// The rules around background removal that the API applies before anything is charged, and the
// price, by the renderer's own rule for what it draws (src/templates/layout.ts): a removal is
// charged only for an image the render draws, once per distinct image; remove_background is
// refused on text and shape layers and past MAX_BACKGROUND_REMOVALS image layers, in templates
// and after modifications, over HTTP with 400 and nothing charged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backgroundRemovals } from "../src/billing/prices.js";
import { MAX_BACKGROUND_REMOVALS, TemplateDocument } from "../src/templates/document.js";
import { applyModifications } from "../src/templates/modifications.js";
import { startStack, type Stack } from "./helpers/stack.js";

const photo = (name: string, extra: Record<string, unknown> = {}) => ({
  type: "image",
  name,
  x: 0,
  y: 0,
  width: 100,
  height: 100,
  image_url: `https://example.com/${name}.jpg`,
  remove_background: true,
  ...extra,
});
const doc = (layers: unknown[], size = 100) => TemplateDocument.parse({ width: size, height: size, layers });

describe("the price counts the background removals the render runs", () => {
  it("one per distinct image drawn with remove_background", () => {
    expect(backgroundRemovals(doc([photo("a"), photo("b")]))).toBe(2);
    // The same image in two layers is removed once (the engine caches it by content): one removal.
    expect(backgroundRemovals(doc([photo("a"), photo("b", { image_url: "https://example.com/a.jpg" })]))).toBe(1);
    expect(backgroundRemovals(doc([photo("a", { remove_background: false })]))).toBe(0);
  });

  it("none for layers the renderer does not draw", () => {
    expect(backgroundRemovals(doc([photo("hidden", { hidden: true })]))).toBe(0);
    expect(backgroundRemovals(doc([photo("clear", { opacity: 0 })]))).toBe(0);
    expect(backgroundRemovals(doc([photo("empty", { image_url: undefined })]))).toBe(0);
    expect(backgroundRemovals(doc([photo("off", { x: 150 })]))).toBe(0);
    // A tenth of a pixel on the canvas rounds to nothing: the renderer skips it, so no charge.
    expect(backgroundRemovals(doc([photo("sliver", { x: 99.9 })]))).toBe(0);
    expect(backgroundRemovals(doc([photo("edge", { x: 99 })]))).toBe(1);
    // Turned 45° about its centre just off the right edge: its corner reaches onto the canvas.
    expect(backgroundRemovals(doc([photo("turned", { x: 105, rotation: 45 })]))).toBe(1);
  });

  it("at the render's scale, as the renderer rounds it", () => {
    const sliver = doc([photo("s", { x: 99, width: 100 })]);
    expect(backgroundRemovals(sliver, 1)).toBe(1);
    // At scale 0.1 the canvas is 10 px and the layer starts at 9.9: rounded to 10, off the canvas.
    expect(backgroundRemovals(sliver, 0.1)).toBe(0);
  });
});

describe("remove_background is refused where it cannot apply", () => {
  it.each(["text", "rect", "ellipse"])("on a %s layer in a template document (false is accepted)", (type) => {
    const layer = { type, name: "l", width: 10, height: 10 };
    const refused = TemplateDocument.safeParse({
      width: 10,
      height: 10,
      layers: [{ ...layer, remove_background: true }],
    });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]).toMatchObject({
      path: ["layers", 0, "remove_background"],
      message: "remove_background applies to image layers only",
    });
    expect(
      TemplateDocument.safeParse({ width: 10, height: 10, layers: [{ ...layer, remove_background: false }] }).success,
    ).toBe(true);
  });

  it(`past ${MAX_BACKGROUND_REMOVALS} image layers of one document, naming the first one too many`, () => {
    const layers = Array.from({ length: MAX_BACKGROUND_REMOVALS + 1 }, (_, i) => photo(`p${i}`));
    const refused = TemplateDocument.safeParse({ width: 100, height: 100, layers });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.path).toEqual(["layers", MAX_BACKGROUND_REMOVALS, "remove_background"]);
    expect(refused.error?.issues[0]?.message).toContain(`at most ${MAX_BACKGROUND_REMOVALS} image layers`);
    // Also when a modification turns on one too many.
    const within = doc([...layers.slice(0, MAX_BACKGROUND_REMOVALS), photo("last", { remove_background: false })]);
    expect(() => applyModifications(within, [{ name: "last", remove_background: true }])).toThrow(
      /at most 4 image layers/,
    );
  });
});

describe("over HTTP: 400 before anything is charged", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ RATE_LIMIT_MAX: "0" });
  });
  afterAll(() => stack?.stop());

  it("refuses a template with remove_background on a text layer, and a fifth removal by modification", async () => {
    const org = await stack.createOrg(100);
    const text = await stack.api(org.apiKey, "POST", "/api/v1/templates", {
      width: 100,
      height: 100,
      layers: [{ type: "text", name: "title", width: 100, height: 20, text: "Hi", remove_background: true }],
    });
    expect(text.status).toBe(400);
    expect(JSON.stringify(text.body)).toContain("remove_background applies to image layers only");

    const layers = Array.from({ length: MAX_BACKGROUND_REMOVALS + 1 }, (_, i) =>
      photo(`p${i}`, { remove_background: i < MAX_BACKGROUND_REMOVALS }),
    );
    const tpl = await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 100, height: 100, layers });
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201);
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: tpl.body.template_id,
      modifications: [{ name: `p${MAX_BACKGROUND_REMOVALS}`, remove_background: true }],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(JSON.stringify(res.body)).toContain(`at most ${MAX_BACKGROUND_REMOVALS} image layers`);
    const billing = await stack.api(org.apiKey, "GET", "/api/v1/billing");
    expect(billing.body.balance_cents).toBe(100);
  });
});
