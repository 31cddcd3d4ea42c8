// The published client's types are inferred from the zod schemas the server validates requests
// and answers with (src/client/types.ts). Two things keep that true:
//  - compile-time checks: the server's view types and the client's are assignable both ways, so
//    `npm run typecheck` fails when they drift (the few types written by hand are checked too);
//  - the client's build compiles only the client and zod-only schema modules: a schema module
//    that started importing the server (Fastify, Prisma, BullMQ, sharp) would ship it to
//    integrators' browsers, and fails here instead.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import type { AccountView, LedgerEntryView } from "../src/billing/ledger.js";
import type * as Client from "../src/client/index.js";
import type { Page } from "../src/db/pagination.js";
import type { PresetView } from "../src/delivery/presets.js";
import type { WebhookAttemptView } from "../src/delivery/webhook-events.js";
import type { WebhookSecretView } from "../src/delivery/webhook-secrets.js";
import type { JobItemView, JobView } from "../src/jobs/view.js";
import { PROJECT_ROOT } from "../src/project-root.js";
import type { DesignGroupView } from "../src/templates/design-groups.js";
import type { FontView } from "../src/templates/fonts.js";
import type { TemplateVersionView, TemplateView } from "../src/templates/service.js";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(ok: Same<A, B>) => ok;

it("the client's types match the server's views", () => {
  expect([
    same<Client.Job, JobView>(true),
    same<Client.JobItem, JobItemView>(true),
    same<Client.Account, AccountView>(true),
    same<Client.LedgerEntry, LedgerEntryView>(true),
    same<Client.WebhookSecret, WebhookSecretView>(true),
    same<Client.WebhookAttempt, WebhookAttemptView>(true),
    same<Client.DesignGroup, DesignGroupView>(true),
    same<Client.Font, FontView>(true),
    same<Client.Template, TemplateView>(true),
    same<Client.TemplateVersion, TemplateVersionView>(true),
    same<Client.SendToPreset, PresetView>(true),
    same<Client.Page<Client.Font>, Page<FontView>>(true),
  ]).not.toContain(false);
});

const run = promisify(execFile);

/** Where a compiled file comes from: a project path, or the npm package it belongs to. */
function origin(file: string): string {
  const rel = path.relative(PROJECT_ROOT, file).split(path.sep);
  if (rel[0] !== "node_modules") return rel.join("/");
  return rel[1]!.startsWith("@") ? `${rel[1]}/${rel[2]}` : rel[1]!;
}

it("the client's build compiles only the client, zod-only schemas and the client's own dependencies", async () => {
  const tsc = path.join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
  const { stdout } = await run(process.execPath, [tsc, "-p", "tsconfig.client.json", "--listFilesOnly"], {
    cwd: PROJECT_ROOT,
  });
  const origins = new Set(stdout.split("\n").filter(Boolean).map(origin));
  const packages = [...origins].filter((o) => !o.startsWith("src/")).sort();
  const sources = [...origins].filter((o) => o.startsWith("src/")).sort();
  // typescript: its lib .d.ts files; @types/node and undici-types: Node's globals; buffer: the
  // npm package of that name (installed for @aws-sdk/lib-storage) wins TypeScript's resolution of
  // @types/node's own `import … from "buffer"` — declarations only, nothing the client runs.
  expect(packages).toEqual(["@types/node", "buffer", "graphql", "graphql-ws", "typescript", "undici-types", "zod"]);
  expect(sources.filter((s) => !/^src\/(client|views)\/[^/]+\.ts$/.test(s))).toEqual([
    "src/delivery/signing.ts",
    // The signed render URL rule, shared with the server's verification (Web Crypto, no imports).
    "src/signed-urls/url.ts",
    "src/templates/document.ts",
  ]);
  expect(sources).toContain("src/views/requests.ts");
});
