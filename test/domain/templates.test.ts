// Saved templates, design groups and font checks, without HTTP: every update is a new version
// (concurrent ones too), a job keeps the document it was accepted with whatever happens to its
// template afterwards, deletes hide without destroying, and another organisation's rows do not
// exist.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGroupRender, createRender } from "../../src/jobs/accept.js";
import { NotFoundError, ValidationError } from "../../src/errors.js";
import {
  createDesignGroup,
  deleteDesignGroup,
  getDesignGroup,
  listDesignGroups,
  updateDesignGroup,
} from "../../src/templates/design-groups.js";
import { TemplateDocument } from "../../src/templates/document.js";
import { availableFamilies } from "../../src/templates/fonts.js";
import {
  checkFonts,
  deleteTemplate,
  findTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  templateView,
  updateTemplate,
} from "../../src/templates/service.js";
import {
  bumpTemplateVersion,
  insertFont,
  insertTemplateVersion,
  softDeleteTemplate,
} from "../../src/templates/template-repository.js";
import { smallTemplate, startDomain, type Domain } from "../helpers/domain.js";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { CreateRenderInput, GroupRenderInput, TemplateInput } from "../../src/views/requests.js";

let domain: Domain;
beforeAll(async () => {
  domain = await startDomain();
});
afterAll(() => domain?.close());

const prisma = () => domain.ctx.prisma;
const backgroundOf = (document: unknown) => (document as TemplateDocument).background;

describe("versions", () => {
  it("a new template is version 1 with one version row; each update is the next version, history newest first", async () => {
    const orgId = await domain.createOrg(0);
    const created = await domain.createTemplate(orgId, smallTemplate("#ff0000", "v"));
    expect(created).toMatchObject({ orgId, name: "v", version: 1 });
    const second = await updateTemplate(prisma(), orgId, created.id, smallTemplate("#00ff00", "v renamed"));
    expect(second).toMatchObject({ id: created.id, version: 2, name: "v renamed" });
    // No name given: the name stays.
    const { name: _name, ...unnamed } = smallTemplate("#0000ff");
    const third = await updateTemplate(prisma(), orgId, created.id, unnamed);
    expect(third).toMatchObject({ version: 3, name: "v renamed" });
    expect(templateView(third)).toMatchObject({ template_id: created.id, version: 3, background: "#0000ff" });

    const versions = await listTemplateVersions(prisma(), orgId, created.id);
    expect(versions.map((v) => [v.version, v.name, backgroundOf(v.document)])).toEqual([
      [3, "v renamed", "#0000ff"],
      [2, "v renamed", "#00ff00"],
      [1, "v", "#ff0000"],
    ]);
  });

  it("concurrent updates each get their own version: no version lost or repeated", async () => {
    const orgId = await domain.createOrg(0);
    const created = await domain.createTemplate(orgId);
    const colours = ["#000001", "#000002", "#000003", "#000004", "#000005", "#000006"];
    const updated = await Promise.all(
      colours.map((c) => updateTemplate(prisma(), orgId, created.id, smallTemplate(c))),
    );
    expect(updated.map((t) => t.version).sort()).toEqual([2, 3, 4, 5, 6, 7]);
    const versions = await listTemplateVersions(prisma(), orgId, created.id);
    expect(versions.map((v) => v.version)).toEqual([7, 6, 5, 4, 3, 2, 1]);
    // Each version row holds the document its update wrote, and the template holds the last one.
    const last = versions[0]!;
    expect(backgroundOf((await getTemplate(prisma(), orgId, created.id)).document)).toBe(backgroundOf(last.document));
    expect(new Set(versions.slice(0, 6).map((v) => backgroundOf(v.document)))).toEqual(new Set(colours));
  });

  it("a job accepted before an update keeps the old document; one accepted after gets the new", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId, smallTemplate("#ff0000"));
    const before = (await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id }))).job;
    await updateTemplate(prisma(), orgId, template.id, smallTemplate("#00ff00"));
    const after = (await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id }))).job;

    const jobs = await prisma().job.findMany({ where: { id: { in: [before.id, after.id] } } });
    const byId = new Map(jobs.map((j) => [j.id, j]));
    expect([byId.get(before.id)!.templateVersion, backgroundOf(byId.get(before.id)!.document)]).toEqual([1, "#ff0000"]);
    expect([byId.get(after.id)!.templateVersion, backgroundOf(byId.get(after.id)!.document)]).toEqual([2, "#00ff00"]);
    // A group accepted now snapshots the current version too.
    const { job: group } = await createGroupRender(
      domain.ctx,
      orgId,
      GroupRenderInput.parse({ template_ids: [template.id] }),
    );
    const [item] = await prisma().job.findMany({ where: { parentId: group.id } });
    expect([item!.templateVersion, backgroundOf(item!.document)]).toEqual([2, "#00ff00"]);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(7);
  });

  it("an update or delete by another process, which this process's template cache never heard of, holds for the next accept", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId, smallTemplate("#ff0000"));
    const accept = async () =>
      (await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id }))).job;
    const first = await accept(); // version 1, now cached
    // Written straight to the database, as another API instance would.
    const { name: _name, ...document } = smallTemplate("#00ff00");
    await prisma().$transaction(async (tx) => {
      const row = await bumpTemplateVersion(tx, orgId, template.id, { name: undefined, document });
      await insertTemplateVersion(tx, { templateId: template.id, version: row!.version, name: row!.name, document });
    });
    const second = await accept();
    const stored = await prisma().job.findMany({
      where: { id: { in: [first.id, second.id] } },
      orderBy: { templateVersion: "asc" },
    });
    expect(stored.map((j) => [j.id, j.templateVersion, backgroundOf(j.document)])).toEqual([
      [first.id, 1, "#ff0000"],
      [second.id, 2, "#00ff00"],
    ]);
    expect(second).toMatchObject({ templateVersion: 2 });

    await softDeleteTemplate(prisma(), orgId, template.id);
    await expect(accept()).rejects.toBeInstanceOf(NotFoundError);
    // The accepts the database turned down on the way left nothing: two jobs, two charges.
    expect(await prisma().ledgerEntry.count({ where: { orgId, kind: "CHARGE" } })).toBe(2);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(8);
  });

  it("refuses an invalid update (ValidationError) and changes nothing", async () => {
    const orgId = await domain.createOrg(0);
    const template = await domain.createTemplate(orgId);
    await expect(updateTemplate(prisma(), orgId, template.id, { ...smallTemplate(), height: 99999 })).rejects.toThrow(
      /height/,
    );
    const bad = TemplateInput.parse({
      ...smallTemplate(),
      layers: [{ type: "text", name: "t", x: 0, y: 0, width: 10, height: 10, text: "x", font_family: "Comic Sans" }],
    });
    await expect(updateTemplate(prisma(), orgId, template.id, bad)).rejects.toBeInstanceOf(ValidationError);
    expect((await getTemplate(prisma(), orgId, template.id)).version).toBe(1);
    expect(await listTemplateVersions(prisma(), orgId, template.id)).toHaveLength(1);
  });
});

describe("delete and ownership", () => {
  it("a deleted template is gone for reads, updates and new jobs; its accepted job keeps its snapshot", async () => {
    const orgId = await domain.createOrg(10);
    const template = await domain.createTemplate(orgId);
    const job = (await createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id }))).job;
    await deleteTemplate(prisma(), orgId, template.id);

    expect(await findTemplate(prisma(), orgId, template.id)).toBeNull();
    await expect(getTemplate(prisma(), orgId, template.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(updateTemplate(prisma(), orgId, template.id, smallTemplate())).rejects.toBeInstanceOf(NotFoundError);
    await expect(listTemplateVersions(prisma(), orgId, template.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteTemplate(prisma(), orgId, template.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      createRender(domain.ctx, orgId, CreateRenderInput.parse({ template_id: template.id })),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect((await listTemplates(prisma(), orgId, { limit: 100 })).data.map((t) => t.id)).not.toContain(template.id);

    const kept = await prisma().job.findUniqueOrThrow({ where: { id: job.id } });
    expect([kept.templateId, kept.templateVersion, backgroundOf(kept.document)]).toEqual([template.id, 1, "#ff0000"]);
    expect(await expectLedgerBalanced(prisma(), orgId)).toBe(9);
  });

  it("another organisation's template does not exist for it", async () => {
    const mine = await domain.createOrg(0);
    const theirs = await domain.createOrg(0);
    const template = await domain.createTemplate(mine);
    expect(await findTemplate(prisma(), theirs, template.id)).toBeNull();
    await expect(updateTemplate(prisma(), theirs, template.id, smallTemplate())).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteTemplate(prisma(), theirs, template.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await getTemplate(prisma(), mine, template.id)).version).toBe(1);
  });

  it("lists the organisation's live templates newest first, page by page, each once", async () => {
    const orgId = await domain.createOrg(0);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await domain.createTemplate(orgId)).id);
    await deleteTemplate(prisma(), orgId, ids[2]!);
    const seen: { id: string; createdAt: Date }[] = [];
    let cursor: string | undefined;
    do {
      const page = await listTemplates(prisma(), orgId, { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen.map((t) => t.id).sort()).toEqual([ids[0], ids[1], ids[3], ids[4]].sort());
    // Newest first (two made in one millisecond may come in either order: ties go by id).
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.createdAt.getTime()).toBeLessThanOrEqual(seen[i - 1]!.createdAt.getTime());
  });
});

describe("design groups", () => {
  it("only live templates of the organisation may join; the error names the index", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    const a = await domain.createTemplate(orgId);
    const theirs = await domain.createTemplate(other);
    const gone = await domain.createTemplate(orgId);
    await deleteTemplate(prisma(), orgId, gone.id);
    for (const [ids, index] of [
      [[a.id, theirs.id], 1],
      [[gone.id, a.id], 0],
    ] as const) {
      const error = await createDesignGroup(prisma(), orgId, { name: "g", template_ids: [...ids] }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields[0]?.path).toBe(`template_ids[${index}]`);
    }
    expect((await listDesignGroups(prisma(), orgId, { limit: 10 })).data).toEqual([]);
  });

  it("create, update, delete; a deleted or foreign group does not exist", async () => {
    const orgId = await domain.createOrg(0);
    const a = await domain.createTemplate(orgId);
    const b = await domain.createTemplate(orgId);
    const group = await createDesignGroup(prisma(), orgId, { name: "campaign", template_ids: [a.id] });
    const updated = await updateDesignGroup(prisma(), orgId, group.id, {
      name: "campaign 2",
      template_ids: [a.id, b.id],
    });
    expect(updated).toMatchObject({ id: group.id, name: "campaign 2", templateIds: [a.id, b.id] });
    const other = await domain.createOrg(0);
    await expect(getDesignGroup(prisma(), other, group.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      updateDesignGroup(prisma(), other, group.id, { name: "x", template_ids: [a.id] }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteDesignGroup(prisma(), other, group.id)).rejects.toBeInstanceOf(NotFoundError);
    await deleteDesignGroup(prisma(), orgId, group.id);
    await expect(getDesignGroup(prisma(), orgId, group.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteDesignGroup(prisma(), orgId, group.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await listDesignGroups(prisma(), orgId, { limit: 10 })).data).toEqual([]);
  });
});

describe("fonts", () => {
  it("a family is usable once the organisation has uploaded it, and only by that organisation", async () => {
    const orgId = await domain.createOrg(0);
    const other = await domain.createOrg(0);
    const doc = {
      ...smallTemplate(),
      layers: [
        { type: "text" as const, name: "t", x: 0, y: 0, width: 10, height: 10, text: "x", font_family: "Brand Sans" },
      ],
    };
    const parsed = TemplateDocument.parse(doc);
    const error = await checkFonts(prisma(), orgId, parsed, ["design"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).fields[0]?.path).toBe("design.layers[0].font_family");

    const face = {
      family: "Brand Sans",
      internalFamily: "Brand Sans",
      format: "ttf",
      sizeBytes: 1,
      storageKey: "fonts/x.ttf",
    };
    await insertFont(prisma(), { id: `fnt_${orgId}a`, orgId, weight: 400, style: "normal", ...face });
    await insertFont(prisma(), { id: `fnt_${orgId}b`, orgId, weight: 700, style: "normal", ...face });
    await checkFonts(prisma(), orgId, parsed);
    expect((await availableFamilies(prisma(), orgId)).filter((f) => f === "Brand Sans")).toHaveLength(1); // distinct
    await expect(checkFonts(prisma(), other, parsed)).rejects.toBeInstanceOf(ValidationError);
  });
});
