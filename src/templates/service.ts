// Saved templates of an organisation: create, read, list, update (each update is a new version),
// delete (hidden from new jobs; jobs already accepted keep their snapshot). Another
// organisation's template reads as not found.
import type { Prisma, Tx } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Page, PageQuery } from "../db/pagination.js";
import type { Template, TemplateVersion } from "../generated/prisma/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { SHIPPED_FONT_FAMILIES, TemplateDocument } from "./document.js";
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
import { TemplateInput } from "../views/requests.js";

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
export async function checkFonts(
  prisma: Prisma,
  orgId: string,
  doc: TemplateDocument,
  pathPrefix: (string | number)[] = [],
): Promise<void> {
  const used = doc.layers.flatMap((l, i) => (l.type === "text" ? [{ family: l.font_family, i }] : []));
  // The shipped families need no look-up (an editor's previews check fonts on every keystroke).
  if (used.every((u) => (SHIPPED_FONT_FAMILIES as readonly string[]).includes(u.family))) return;
  const families = await availableFamilies(prisma, orgId);
  const bad = used.find((u) => !families.includes(u.family));
  if (bad) {
    throw new ValidationError(`unknown font family "${bad.family}"; available: ${families.join(", ")}`, [
      ...pathPrefix,
      "layers",
      bad.i,
      "font_family",
    ]);
  }
}

function splitInput(input: TemplateInput): { name: string | undefined; document: TemplateDocument } {
  const { name, ...doc } = input;
  return { name, document: TemplateDocument.parse(doc) };
}

/** Inserts a validated template and its first version row, inside the caller's transaction. */
export async function insertTemplate(
  tx: Tx,
  orgId: string,
  id: string,
  name: string | undefined,
  document: TemplateDocument,
): Promise<Template> {
  const template = await insertTemplateRow(tx, { id, orgId, name: name ?? "Untitled", document });
  await insertTemplateVersion(tx, { templateId: id, version: 1, name: template.name, document });
  return template;
}

/** Validates the input (document and fonts) into what insertTemplate takes. */
export async function prepareTemplate(
  prisma: Prisma,
  orgId: string,
  input: TemplateInput,
): Promise<{ name: string | undefined; document: TemplateDocument }> {
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

// ---- the accept path's template cache --------------------------------------------------------

/** What accepting a render needs of a template: its current version's document. */
export interface TemplateSnapshot {
  id: string;
  version: number;
  document: TemplateDocument;
}

/**
 * Per database client, by organisation and template id, oldest first. A version never changes
 * (an update is a new version), so a cached snapshot is never wrong about its own document; it may
 * only have stopped being the current version or being live, because of an update or delete in
 * another process (this process drops its entry at once). The accept statement checks exactly
 * that (acceptPaidRenders) and the caller then reads again with `fresh`: so an update or delete
 * takes effect for the very next accept, and a job accepted before it keeps the old version.
 */
const templateCaches = new WeakMap<
  Prisma,
  { entries: Map<string, TemplateSnapshot & { size: number }>; size: number }
>();
const TEMPLATE_CACHE_MAX_ENTRIES = 2_000;
/** Bounds the memory (approximately: characters of the documents' JSON). */
const TEMPLATE_CACHE_MAX_SIZE = 32 * 1024 * 1024;

const cacheKey = (orgId: string, id: string) => `${orgId}/${id}`;

function templateCache(prisma: Prisma) {
  let cache = templateCaches.get(prisma);
  if (!cache) templateCaches.set(prisma, (cache = { entries: new Map(), size: 0 }));
  return cache;
}

function forgetTemplate(prisma: Prisma, orgId: string, id: string): void {
  const cache = templateCaches.get(prisma);
  const entry = cache?.entries.get(cacheKey(orgId, id));
  if (!cache || !entry) return;
  cache.entries.delete(cacheKey(orgId, id));
  cache.size -= entry.size;
}

/**
 * The live template's current version as this process last saw it, or (with `fresh`, or when it
 * has not seen it) as the database has it now; null when the organisation has no such live
 * template. Only for a caller whose write re-checks the version: see templateCaches.
 */
export async function findTemplateSnapshot(
  prisma: Prisma,
  orgId: string,
  id: string,
  opts: { fresh?: boolean } = {},
): Promise<TemplateSnapshot | null> {
  const cache = templateCache(prisma);
  const key = cacheKey(orgId, id);
  const hit = opts.fresh ? undefined : cache.entries.get(key);
  if (hit) return hit;
  forgetTemplate(prisma, orgId, id);
  const row = await findLiveTemplate(prisma, orgId, id);
  if (!row) return null;
  const document = row.document as unknown as TemplateDocument;
  const entry = { id: row.id, version: row.version, document, size: JSON.stringify(document).length };
  if (entry.size > TEMPLATE_CACHE_MAX_SIZE / 16) return entry; // too big to keep
  forgetTemplate(prisma, orgId, id); // a concurrent read may have stored one meanwhile
  cache.entries.set(key, entry);
  cache.size += entry.size;
  while (cache.entries.size > TEMPLATE_CACHE_MAX_ENTRIES || cache.size > TEMPLATE_CACHE_MAX_SIZE) {
    const [oldestKey, oldest] = cache.entries.entries().next().value!;
    cache.entries.delete(oldestKey);
    cache.size -= oldest.size;
  }
  return entry;
}

export async function getTemplate(prisma: Prisma, orgId: string, id: string): Promise<Template> {
  const template = await findTemplate(prisma, orgId, id);
  if (!template) throw new NotFoundError("template not found");
  return template;
}

/** Replaces the document (and the name, when given) and records it as the next version. */
export async function updateTemplate(
  prisma: Prisma,
  orgId: string,
  id: string,
  input: TemplateInput,
): Promise<Template> {
  const { name, document } = splitInput(input);
  await checkFonts(prisma, orgId, document);
  return prisma
    .$transaction(async (tx) => {
      // The version bump is one conditional UPDATE, so two concurrent updates get two versions.
      const row = await bumpTemplateVersion(tx, orgId, id, { name, document });
      if (!row) throw new NotFoundError("template not found");
      await insertTemplateVersion(tx, { templateId: id, version: row.version, name: row.name, document });
      return getTemplateById(tx, id);
    })
    .finally(() => forgetTemplate(prisma, orgId, id));
}

export async function deleteTemplate(prisma: Prisma, orgId: string, id: string): Promise<void> {
  const deleted = await softDeleteTemplate(prisma, orgId, id);
  forgetTemplate(prisma, orgId, id);
  if (!deleted) throw new NotFoundError("template not found");
}

export async function listTemplates(prisma: Prisma, orgId: string, page: PageQuery): Promise<Page<Template>> {
  return listLiveTemplates(prisma, orgId, page);
}

/** Every version of a template, newest first. */
export async function listTemplateVersions(prisma: Prisma, orgId: string, id: string): Promise<TemplateVersion[]> {
  await getTemplate(prisma, orgId, id);
  return findTemplateVersions(prisma, id);
}
