// The client's job and webhook-attempt types are inferred from the zod schemas the server's views
// use (src/views/job.ts); the others are written out with documentation for integrators (without
// importing server code). These compile-time checks keep them all from drifting: `npm run
// typecheck` fails when a server view and its client type stop being assignable both ways.
import { expect, it } from "vitest";
import type { AccountView, LedgerEntryView } from "../src/billing/ledger.js";
import type * as Client from "../src/client/index.js";
import type { WebhookAttemptView } from "../src/delivery/webhook-events.js";
import type { WebhookSecretView } from "../src/delivery/webhook-secrets.js";
import type { JobItemView, JobView } from "../src/jobs/view.js";
import type { DesignGroupView } from "../src/templates/design-groups.js";
import type { FontView } from "../src/templates/fonts.js";

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
  ]).not.toContain(false);
});
