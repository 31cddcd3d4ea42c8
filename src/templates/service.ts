// Saved templates of an organisation: create, read, list, update (each update is a new version),
// delete (hidden from new jobs; jobs already accepted keep their snapshot). Another
// organisation's template reads as not found.
import { z } from "zod";
import type { Prisma, Tx } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Page, PageQuery } from "../db/pagination.js";
import type { Template, TemplateVersion } from "../generated/prisma/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { TemplateDocument } from "./document.js";
import { availableFamilies } from "./fonts.js";
import {
  bumpTemplateVersion,
  findLiveTemplate,
  findTemplateVersions,
  getTemplateById,
  insertTemplateRow,
  insertTemplateVersion,
  listLiveTemplates,
  softDeleteTemplate,
} from "./template-repository.js";

/** The body of POST/PUT /api/v1/templates: the document plus an optional display name. */
export const TemplateInput = z.intersection(z.object({ name: z.string().min(1).max(200).optional() }), TemplateDocument);
export type TemplateInput = z.infer<typeof TemplateInput>;

export interface TemplateView extends TemplateDocument {
  template_id: string;
  name: string;
  version: number;
  created_at: string;
  updated_at: string;
}

const documentFields = (json: unknown): TemplateDocument => {
  const doc = json as TemplateDocument;
  return { width: doc.width, height: doc.height, background: doc.background, layers: doc.layers };
};

export function templateView(t: Template): TemplateView {
  return {
    template_id: t.id,
    name: t.name,
    version: t.version,
    ...documentFields(t.document),
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
  };
}

export type TemplateVersionView = Omit<TemplateView, "updated_at">;

export const templateVersionView = (v: TemplateVersion): TemplateVersionView => ({
  template_id: v.templateId,
  name: v.name,
  version: v.version,
  ...documentFields(v.document),
  created_at: v.createdAt.toISOString(),
});

/** Every text layer's family must be shipped or uploaded by the organisation. */
export async function checkFonts(prisma: Prisma, orgId: string, doc: TemplateDocument, pathPrefix: (string | number)[] = []): Promise<void> {
  const used = doc.layers.flatMap((l, i) => (l.type === "text" ? [{ family: l.font_family, i }] : []));
  if (used.length === 0) return;
  const families = await availableFamilies(prisma, orgId);
  const bad = used.find((u) => !families.includes(u.family));
  if (bad) {
    throw new ValidationError(`unknown font family "${bad.family}"; available: ${families.join(", ")}`, [...pathPrefix, "layers", bad.i, "font_family"]);
  }
}

function splitInput(input: TemplateInput): { name: string | undefined; document: TemplateDocument } {
  const { name, ...doc } = input;
  return { name, document: TemplateDocument.parse(doc) };
}

/** Inserts a validated template and its first version row, inside the caller's transaction. */
export async function insertTemplate(tx: Tx, orgId: string, id: string, name: string | undefined, document: TemplateDocument): Promise<Template> {
  const template = await insertTemplateRow(tx, { id, orgId, name: name ?? "Untitled", document });
  await insertTemplateVersion(tx, { templateId: id, version: 1, name: template.name, document });
  return template;
}

/** Validates the input (document and fonts) into what insertTemplate takes. */
export async function prepareTemplate(prisma: Prisma, orgId: string, input: TemplateInput): Promise<{ name: string | undefined; document: TemplateDocument }> {
  const prepared = splitInput(input);
  await checkFonts(prisma, orgId, prepared.document);
  return prepared;
}

export async function createTemplate(prisma: Prisma, orgId: string, input: TemplateInput): Promise<Template> {
  const { name, document } = await prepareTemplate(prisma, orgId, input);
  return prisma.$transaction((tx) => insertTemplate(tx, orgId, newId("tpl"), name, document));
}

/** A live (not deleted) template of the organisation, or null. */
export async function findTemplate(prisma: Prisma, orgId: string, id: string): Promise<Template | null> {
  return findLiveTemplate(prisma, orgId, id);
}

export async function getTemplate(prisma: Prisma, orgId: string, id: string): Promise<Template> {
  const template = await findTemplate(prisma, orgId, id);
  if (!template) throw new NotFoundError("template not found");
  return template;
}

/** Replaces the document (and the name, when given) and records it as the next version. */
export async function updateTemplate(prisma: Prisma, orgId: string, id: string, input: TemplateInput): Promise<Template> {
  const { name, document } = splitInput(input);
  await checkFonts(prisma, orgId, document);
  return prisma.$transaction(async (tx) => {
    // The version bump is one conditional UPDATE, so two concurrent updates get two versions.
    const row = await bumpTemplateVersion(tx, orgId, id, { name, document });
    if (!row) throw new NotFoundError("template not found");
    await insertTemplateVersion(tx, { templateId: id, version: row.version, name: row.name, document });
    return getTemplateById(tx, id);
  });
}

export async function deleteTemplate(prisma: Prisma, orgId: string, id: string): Promise<void> {
  if (!(await softDeleteTemplate(prisma, orgId, id))) throw new NotFoundError("template not found");
}

export async function listTemplates(prisma: Prisma, orgId: string, page: PageQuery): Promise<Page<Template>> {
  return listLiveTemplates(prisma, orgId, page);
}

/** Every version of a template, newest first. */
export async function listTemplateVersions(prisma: Prisma, orgId: string, id: string): Promise<TemplateVersion[]> {
  await getTemplate(prisma, orgId, id);
  return findTemplateVersions(prisma, id);
}
