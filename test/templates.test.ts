// The templates API: create, list (newest first, paginated), get, update (versions), delete;
// and a job renders the version it was accepted with, whatever happens to the template after.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { socialCard } from "./helpers/fixtures.js";
import { readPixelsAt } from "./helpers/pixels.js";
import { startStack, waitForFinal, type Stack } from "./helpers/stack.js";

let stack: Stack;
let org: { orgId: string; apiKey: string };

beforeAll(async () => {
  stack = await startStack();
  org = await stack.createOrg(1000);
});
afterAll(() => stack?.stop());

const small = (name: string, background = "#ff0000") => ({
  name,
  width: 40,
  height: 20,
  background,
  layers: [{ type: "rect", name: "box", x: 0, y: 0, width: 10, height: 10, fill: "#0000ff" }],
});

const pixel = async (url: string, x: number, y: number): Promise<number[]> => (await readPixelsAt(url)).at(x, y);

describe("list", () => {
  it("pages through the organisation's templates, newest first", async () => {
    const mine = await stack.createOrg(0);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await stack.api(mine.apiKey, "POST", "/api/v1/templates", small(`t${i}`))).body.template_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: any } = await stack.api(
        mine.apiKey,
        "GET",
        `/api/v1/templates?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((t: { template_id: string }) => t.template_id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    // Another organisation's list does not include them.
    const theirs = await stack.api(org.apiKey, "GET", "/api/v1/templates?limit=100");
    expect(theirs.body.data.map((t: { template_id: string }) => t.template_id)).not.toContain(ids[0]);
  });

  it("refuses a bad limit or cursor with 400", async () => {
    expect((await stack.api(org.apiKey, "GET", "/api/v1/templates?limit=0")).status).toBe(400);
    const res = await stack.api(org.apiKey, "GET", "/api/v1/templates?cursor=garbage");
    expect(res.status).toBe(400);
    expect(res.body.error).toContain("cursor");
  });
});

describe("update and versions", () => {
  it("makes a new version on every update, and keeps the history", async () => {
    const created = await stack.api(org.apiKey, "POST", "/api/v1/templates", small("v"));
    const id = created.body.template_id;
    const updated = await stack.api(org.apiKey, "PUT", `/api/v1/templates/${id}`, small("v renamed", "#00ff00"));
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ template_id: id, version: 2, name: "v renamed", background: "#00ff00" });
    const versions = await stack.api(org.apiKey, "GET", `/api/v1/templates/${id}/versions`);
    expect(versions.body.data.map((v: { version: number; background: string }) => [v.version, v.background])).toEqual([
      [2, "#00ff00"],
      [1, "#ff0000"],
    ]);
  });

  it("a job accepted before an update renders what was asked", async () => {
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", small("snap"))).body.template_id;
    // API-only stack? No: the worker runs, so hold the race by updating right after accepting.
    const before = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: id });
    await stack.api(org.apiKey, "PUT", `/api/v1/templates/${id}`, small("snap", "#00ff00"));
    const after = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: id });
    const [a, b] = await Promise.all([
      waitForFinal(stack, org.apiKey, before.body.job_id),
      waitForFinal(stack, org.apiKey, after.body.job_id),
    ]);
    expect(await pixel(a.output_url, 30, 15)).toEqual([255, 0, 0]);
    expect(await pixel(b.output_url, 30, 15)).toEqual([0, 255, 0]);
    const jobs = await stack.app.ctx.prisma.job.findMany({
      where: { id: { in: [a.job_id, b.job_id] } },
      orderBy: { createdAt: "asc" },
    });
    expect(jobs.map((j) => j.templateVersion)).toEqual([1, 2]);
  });

  it("validates an update like a create (400 naming the path), and 404s another organisation's template", async () => {
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", small("val"))).body.template_id;
    const bad = await stack.api(org.apiKey, "PUT", `/api/v1/templates/${id}`, { ...small("val"), height: 99999 });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("height");
    const other = await stack.createOrg(0);
    expect((await stack.api(other.apiKey, "PUT", `/api/v1/templates/${id}`, small("x"))).status).toBe(404);
    expect((await stack.api(other.apiKey, "DELETE", `/api/v1/templates/${id}`)).status).toBe(404);
  });
});

describe("delete", () => {
  it("hides the template from reads and new jobs; existing jobs and outputs keep working", async () => {
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const accepted = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: id });
    const done = await waitForFinal(stack, org.apiKey, accepted.body.job_id);
    expect((await stack.api(org.apiKey, "DELETE", `/api/v1/templates/${id}`)).status).toBe(204);

    expect((await stack.api(org.apiKey, "GET", `/api/v1/templates/${id}`)).status).toBe(404);
    const refused = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: id });
    expect(refused.status).toBe(404);
    expect(refused.body.error).toContain(id);
    const list = await stack.api(org.apiKey, "GET", "/api/v1/templates?limit=100");
    expect(list.body.data.map((t: { template_id: string }) => t.template_id)).not.toContain(id);

    const poll = await stack.api(org.apiKey, "GET", `/api/v1/create/${done.job_id}`);
    expect(poll.body).toEqual(done);
    expect((await fetch(done.output_url)).status).toBe(200);
    expect((await stack.api(org.apiKey, "DELETE", `/api/v1/templates/${id}`)).status).toBe(404);
  });
});

describe("modifications", () => {
  it("applies background, opacity and font changes, and refuses ones that do not fit the layer", async () => {
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", small("mods"))).body.template_id;
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: id,
      modifications: [{ name: "box", background: "#00ff00" }],
    });
    const done = await waitForFinal(stack, org.apiKey, res.body.job_id);
    expect(await pixel(done.output_url, 5, 5)).toEqual([0, 255, 0]);

    const wrong = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: id,
      modifications: [{ name: "box", font_size: 20 }],
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toContain("modifications[0].font_size");
    const unknownProp = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: id,
      modifications: [{ name: "box", colour: "#fff" }],
    });
    expect(unknownProp.status).toBe(400);
    expect(unknownProp.body.error).toContain("colour");
  });

  it("refuses an unknown font family, in a template or a modification, naming the path and the families", async () => {
    const doc = {
      ...socialCard,
      layers: socialCard.layers.map((l) => (l.name === "title" ? { ...l, font_family: "Comic Sans" } : l)),
    };
    const res = await stack.api(org.apiKey, "POST", "/api/v1/templates", doc);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/layers\[\d\]\.font_family/);
    expect(res.body.error).toContain("Inter, Noto Serif, JetBrains Mono");
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", socialCard)).body.template_id;
    const mod = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: id,
      modifications: [{ name: "title", font_family: "Comic Sans" }],
    });
    expect(mod.status).toBe(400);
    expect(mod.body.error).toContain('unknown font family "Comic Sans"');
  });
});

describe("output options", () => {
  it("scale multiplies the output size; quality is accepted for jpeg", async () => {
    const id = (await stack.api(org.apiKey, "POST", "/api/v1/templates", small("scale"))).body.template_id;
    const res = await stack.api(org.apiKey, "POST", "/api/v1/create", {
      template_id: id,
      format: "jpeg",
      quality: 60,
      scale: 2,
    });
    expect(res.status).toBe(202);
    const done = await waitForFinal(stack, org.apiKey, res.body.job_id);
    const meta = await sharp(Buffer.from(await (await fetch(done.output_url)).arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 80, 40]);
    const bad = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: id, scale: 10, quality: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("scale");
    expect(bad.body.error).toContain("quality");
  });
});
