// PostgreSQL restarted mid-run (`npm run test:chaos` only: it restarts the machine's server).
// While it is away the API answers 503 with a JSON error; workers wait for it without spending
// a job's attempts; once it is back every accepted job completes, charged once.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { startStack } from "../helpers/stack.js";
import { until, waitForOrgSettled } from "../helpers/wait.js";

/** Stops or starts the machine's PostgreSQL cluster; returns once pg_ctlcluster has done it. */
function postgres(action: "stop" | "start"): void {
  const version = readdirSync("/etc/postgresql").sort().at(-1)!;
  execFileSync("pg_ctlcluster", [
    "--skip-systemctl-redirect",
    version,
    "main",
    action,
    ...(action === "stop" ? ["-m", "fast"] : []),
  ]);
}

describe("PostgreSQL restarted mid-run", () => {
  it("answers 503 JSON while it is away, and every accepted job completes once it is back", async () => {
    const stack = await startStack({ RATE_LIMIT_MAX: "0", RECONCILE_INTERVAL_MS: "1000" });
    try {
      const org = await stack.createOrg(1000);
      const tpl = (
        await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 50, height: 50, background: "#123123" })
      ).body.template_id;
      const accepted: string[] = [];
      for (let i = 0; i < 20; i++)
        accepted.push((await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl })).body.job_id);

      // Down, for as long as the test says: no guess about how long a restart takes.
      const during: number[] = [];
      postgres("stop");
      try {
        // The API itself sees it gone.
        await until(
          () => stack.api(null, "GET", "/health"),
          (res) => res.status === 503 && /database/.test(res.body?.error),
          { what: "/health to report the database down" },
        );
        for (let i = 0; i < 10; i++) {
          const res = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl });
          during.push(res.status);
          expect(res.status).toBe(503);
          expect(res.body.error).toMatch(/database is unavailable/);
        }
      } finally {
        postgres("start");
      }

      // Back: everything accepted completes (a read while it reconnects counts as "not yet").
      await until(
        () => stack.api(null, "GET", "/health"),
        (res) => res.status === 200,
        { timeout: 60_000, what: "/health to answer 200 again" },
      );
      await waitForOrgSettled(stack.app.ctx.prisma, org.orgId, 60_000);
      const jobs = await stack.app.ctx.prisma.job.findMany({ where: { orgId: org.orgId } });
      expect(jobs.map((j) => j.id).sort()).toEqual([...accepted].sort());
      expect(jobs.every((j) => j.status === "complete")).toBe(true);
      expect(await stack.app.ctx.prisma.ledgerEntry.count({ where: { orgId: org.orgId, kind: "CHARGE" } })).toBe(
        accepted.length,
      );
      await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
      console.log(
        `postgres restart: ${accepted.length} accepted, answers while away: ${during.join(" ")}; all complete, charged once`,
      );
    } finally {
      await stack.stop().catch(() => {});
    }
  });
});
