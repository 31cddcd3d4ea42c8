// Design groups: a named set of the organisation's templates rendered together with one set of
// modifications (one campaign in square, story and banner sizes).
import type { Prisma } from "../db/client.js";
import { newId } from "../db/ids.js";
import type { Page, PageQuery } from "../db/pagination.js";
import type { DesignGroup } from "../generated/prisma/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import {
  findLiveDesignGroup,
  findLiveTemplateIds,
  insertDesignGroup,
  listLiveDesignGroups,
  softDeleteDesignGroup,
  updateDesignGroupRow,
} from "./template-repository.js";
import { DesignGroupInput } from "../views/requests.js";

export interface DesignGroupView {
  design_group_id: string;
  name: string;
  template_ids: string[];
  created_at: string;
  updated_at: string;
}

export const designGroupView = (g: DesignGroup): DesignGroupView => ({
  design_group_id: g.id,
  name: g.name,
  template_ids: g.templateIds,
  created_at: g.createdAt.toISOString(),
  updated_at: g.updatedAt.toISOString(),
});

/** Every id must be a live template of the organisation (400 naming the ones that are not). */
export async function checkTemplateIds(
  prisma: Prisma,
  orgId: string,
  ids: string[],
  field = "template_ids",
): Promise<void> {
  const known = await findLiveTemplateIds(prisma, orgId, ids);
  const missing = ids.findIndex((id) => !known.has(id));
  if (missing >= 0) throw new ValidationError(`template ${ids[missing]} not found`, [field, missing]);
}

export async function createDesignGroup(prisma: Prisma, orgId: string, input: DesignGroupInput): Promise<DesignGroup> {
  await checkTemplateIds(prisma, orgId, input.template_ids);
  return insertDesignGroup(prisma, { id: newId("dgr"), orgId, name: input.name, templateIds: input.template_ids });
}

export async function getDesignGroup(prisma: Prisma, orgId: string, id: string): Promise<DesignGroup> {
  const group = await findLiveDesignGroup(prisma, orgId, id);
  if (!group) throw new NotFoundError("design group not found");
  return group;
}

export async function updateDesignGroup(
  prisma: Prisma,
  orgId: string,
  id: string,
  input: DesignGroupInput,
): Promise<DesignGroup> {
  await getDesignGroup(prisma, orgId, id);
  await checkTemplateIds(prisma, orgId, input.template_ids);
  return updateDesignGroupRow(prisma, id, { name: input.name, templateIds: input.template_ids });
}

export async function deleteDesignGroup(prisma: Prisma, orgId: string, id: string): Promise<void> {
  if (!(await softDeleteDesignGroup(prisma, orgId, id))) throw new NotFoundError("design group not found");
}

export async function listDesignGroups(prisma: Prisma, orgId: string, page: PageQuery): Promise<Page<DesignGroup>> {
  return listLiveDesignGroups(prisma, orgId, page);
}
