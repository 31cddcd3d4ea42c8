// Every query on saved templates, their versions, design groups and uploaded font rows. Each
// function takes a `Db`, so it runs alone or inside the caller's transaction; none opens a
// transaction of its own. "Live" means not deleted: deleted templates and groups stay in the
// database for the jobs that point at them, but nothing new may use them.
import type { Db } from "../db/client.js";
import { afterCursor, newestFirst, toPage, type Page, type PageQuery } from "../db/pagination.js";
import type { DesignGroup, Font, Template, TemplateVersion } from "../generated/prisma/client.js";
import type { TemplateDocument } from "./document.js";

// ---- templates and versions -------------------------------------------------------------------

export async function insertTemplateRow(
  db: Db,
  row: { id: string; orgId: string; name: string; document: TemplateDocument },
): Promise<Template> {
  return db.template.create({ data: row });
}

export async function insertTemplateVersion(
  db: Db,
  row: { templateId: string; version: number; name: string; document: TemplateDocument },
): Promise<void> {
  await db.templateVersion.create({ data: row });
}

/** A live template of the organisation, or null. */
export async function findLiveTemplate(db: Db, orgId: string, id: string): Promise<Template | null> {
  return db.template.findFirst({ where: { id, orgId, deletedAt: null } });
}

/** The live templates of the organisation among `ids` (any order; missing ones left out). */
export async function findLiveTemplates(db: Db, orgId: string, ids: string[]): Promise<Template[]> {
  return db.template.findMany({ where: { id: { in: ids }, orgId, deletedAt: null } });
}

/** Which of `ids` are live templates of the organisation. */
export async function findLiveTemplateIds(db: Db, orgId: string, ids: string[]): Promise<Set<string>> {
  const found = await db.template.findMany({
    where: { id: { in: ids }, orgId, deletedAt: null },
    select: { id: true },
  });
  return new Set(found.map((t) => t.id));
}

/** The template by id, deleted or not; throws when it does not exist. */
export async function getTemplateById(db: Db, id: string): Promise<Template> {
  return db.template.findUniqueOrThrow({ where: { id } });
}

/**
 * Replaces a live template's document (and its name, when given) and bumps its version, in one
 * conditional UPDATE: two concurrent updates get two versions. Returns the new version and name,
 * or null when the organisation has no such live template.
 */
export async function bumpTemplateVersion(
  db: Db,
  orgId: string,
  id: string,
  change: { name: string | undefined; document: TemplateDocument },
): Promise<{ version: number; name: string } | null> {
  const rows = await db.$queryRaw<{ version: number; name: string }[]>`
    UPDATE "templates" SET "version" = "version" + 1, "document" = ${JSON.stringify(change.document)}::jsonb,
      "name" = COALESCE(${change.name ?? null}, "name"), "updated_at" = now()
    WHERE "id" = ${id} AND "org_id" = ${orgId} AND "deleted_at" IS NULL
    RETURNING "version", "name"`;
  return rows[0] ?? null;
}

/** Marks a live template deleted. Returns false when there was none. */
export async function softDeleteTemplate(db: Db, orgId: string, id: string): Promise<boolean> {
  const deleted = await db.template.updateMany({
    where: { id, orgId, deletedAt: null },
    data: { deletedAt: new Date() },
  });
  return deleted.count > 0;
}

/** The organisation's live templates, newest first, keyset-paginated. */
export async function listLiveTemplates(db: Db, orgId: string, page: PageQuery): Promise<Page<Template>> {
  const rows = await db.template.findMany({
    where: { orgId, deletedAt: null, ...afterCursor(page.cursor) },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

/** Every version row of a template, newest first. */
export async function findTemplateVersions(db: Db, templateId: string): Promise<TemplateVersion[]> {
  return db.templateVersion.findMany({ where: { templateId }, orderBy: { version: "desc" } });
}

// ---- design groups ----------------------------------------------------------------------------

export async function insertDesignGroup(
  db: Db,
  row: { id: string; orgId: string; name: string; templateIds: string[] },
): Promise<DesignGroup> {
  return db.designGroup.create({ data: row });
}

/** A live design group of the organisation, or null. */
export async function findLiveDesignGroup(db: Db, orgId: string, id: string): Promise<DesignGroup | null> {
  return db.designGroup.findFirst({ where: { id, orgId, deletedAt: null } });
}

/** Sets the group's name and templates (the caller checked it is the organisation's). */
export async function updateDesignGroupRow(
  db: Db,
  id: string,
  change: { name: string; templateIds: string[] },
): Promise<DesignGroup> {
  return db.designGroup.update({ where: { id }, data: change });
}

/** Marks a live design group deleted. Returns false when there was none. */
export async function softDeleteDesignGroup(db: Db, orgId: string, id: string): Promise<boolean> {
  const deleted = await db.designGroup.updateMany({
    where: { id, orgId, deletedAt: null },
    data: { deletedAt: new Date() },
  });
  return deleted.count > 0;
}

/** The organisation's live design groups, newest first, keyset-paginated. */
export async function listLiveDesignGroups(db: Db, orgId: string, page: PageQuery): Promise<Page<DesignGroup>> {
  const rows = await db.designGroup.findMany({
    where: { orgId, deletedAt: null, ...afterCursor(page.cursor) },
    orderBy: newestFirst,
    take: page.limit + 1,
  });
  return toPage(rows, page.limit);
}

// ---- uploaded fonts ---------------------------------------------------------------------------

export interface FontFace {
  family: string;
  weight: number;
  style: string;
}

export type FontColumns = FontFace & { internalFamily: string; format: string; storageKey: string; sizeBytes: number };

/** The organisation's upload of exactly this face (family, weight, style), or null. */
export async function findFontFace(db: Db, orgId: string, face: FontFace): Promise<Font | null> {
  return db.font.findUnique({
    where: { orgId_family_weight_style: { orgId, family: face.family, weight: face.weight, style: face.style } },
  });
}

export async function insertFont(db: Db, row: FontColumns & { id: string; orgId: string }): Promise<Font> {
  return db.font.create({ data: row });
}

export async function updateFont(db: Db, id: string, columns: FontColumns): Promise<Font> {
  return db.font.update({ where: { id }, data: columns });
}

export async function findFontForOrg(db: Db, orgId: string, fontId: string): Promise<Font | null> {
  return db.font.findFirst({ where: { id: fontId, orgId } });
}

export async function deleteFontRow(db: Db, id: string): Promise<void> {
  await db.font.delete({ where: { id } });
}

/** The organisation's uploaded faces, by family, weight and style. */
export async function listFontsForOrg(db: Db, orgId: string): Promise<Font[]> {
  return db.font.findMany({ where: { orgId }, orderBy: [{ family: "asc" }, { weight: "asc" }, { style: "asc" }] });
}

/** The distinct family names the organisation uploaded. */
export async function findUploadedFamilies(db: Db, orgId: string): Promise<string[]> {
  const uploaded = await db.font.findMany({ where: { orgId }, select: { family: true }, distinct: ["family"] });
  return uploaded.map((f) => f.family);
}

/** The organisation's uploaded faces of the given families. */
export async function findFontsOfFamilies(db: Db, orgId: string, families: string[]): Promise<Font[]> {
  return db.font.findMany({ where: { orgId, family: { in: families } } });
}
