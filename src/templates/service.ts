// Saved templates of an organisation. Another organisation's template reads as not found.
import { z } from "zod";
import { newId } from "../db/ids.js";
import type { Prisma } from "../db/client.js";
import type { Template } from "../generated/prisma/client.js";
import { TemplateDocument } from "./document.js";

/** The body of POST /api/v1/templates: the document plus an optional display name. */
export const TemplateInput = z.intersection(
  z.object({ name: z.string().min(1).max(200).optional() }),
  TemplateDocument,
);
export type TemplateInput = z.infer<typeof TemplateInput>;

export interface TemplateView extends TemplateDocument {
  template_id: string;
  name: string;
  version: number;
  created_at: string;
  updated_at: string;
}

export function templateView(t: Template): TemplateView {
  const doc = t.document as unknown as TemplateDocument;
  return {
    template_id: t.id,
    name: t.name,
    version: t.version,
    width: doc.width,
    height: doc.height,
    background: doc.background,
    layers: doc.layers,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
  };
}

export async function createTemplate(prisma: Prisma, orgId: string, input: TemplateInput): Promise<Template> {
  const { name, ...doc } = input;
  return prisma.template.create({
    data: { id: newId("tpl"), orgId, name: name ?? "Untitled", document: TemplateDocument.parse(doc) },
  });
}

/** A live (not deleted) template of the organisation, or null. */
export async function findTemplate(prisma: Prisma, orgId: string, id: string): Promise<Template | null> {
  return prisma.template.findFirst({ where: { id, orgId, deletedAt: null } });
}
