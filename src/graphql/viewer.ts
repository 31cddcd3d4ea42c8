// viewer: who the API key belongs to.
import type { OrganizationView } from "../billing/organizations.js";
import { showOrganization } from "../billing/organizations.js";
import { builder } from "./builder.js";
import { requirePrincipal } from "./errors.js";

const OrganizationStatus = builder.enumType("OrganizationStatus", { values: ["ACTIVE", "SUSPENDED"] as const });

const OrganizationRef = builder.objectRef<OrganizationView>("Organization").implement({
  fields: (t) => ({
    id: t.exposeID("org_id"),
    name: t.exposeString("name"),
    balanceCents: t.exposeInt("balance_cents"),
    status: t.field({ type: OrganizationStatus, resolve: (org) => org.status }),
  }),
});

const ViewerRef = builder.objectRef<{ orgId: string }>("Viewer").implement({
  fields: (t) => ({
    organization: t.field({ type: OrganizationRef, resolve: (viewer, _args, ctx) => showOrganization(ctx.app.prisma, viewer.orgId) }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({ type: ViewerRef, resolve: (_root, _args, ctx) => ({ orgId: requirePrincipal(ctx).orgId }) }),
);
