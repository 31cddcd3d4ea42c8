// PostgreSQL restarted mid-run (`npm run test:chaos` only: it restarts the machine's server).
// While it is away the API answers 503 with a JSON error; workers wait for it without spending
// a job's attempts; once it is back every accepted job completes, charged once.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expectLedgerBalanced } from "../helpers/ledger.js";
import { startStack } from "../helpers/stack.js";

function restartPostgres(): void {
  const version = readdirSync("/etc/postgresql").sort().at(-1)!;
  execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"]);
  setTimeout(() => execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", version, "main", "start"]), 3000);
}

describe("PostgreSQL restarted mid-run", () => {
  it("answers 503 JSON while it is away, and every accepted job completes once it is back", async () => {
    const stack = await startStack({ RATE_LIMIT_MAX: "0", RECONCILE_INTERVAL_MS: "1000" });
    try {
      const org = await stack.createOrg(1000);
      const tpl = (await stack.api(org.apiKey, "POST", "/api/v1/templates", { width: 50, height: 50, background: "#123123" })).body.template_id;
      const accepted: string[] = [];
      for (let i = 0; i < 20; i++) accepted.push((await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl })).body.job_id);

      restartPostgres(); // down now, back in ~3 s
      const during: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await stack.api(org.apiKey, "POST", "/api/v1/create", { template_id: tpl });
        during.push(res.status);
        if (res.status === 202) accepted.push(res.body.job_id);
        else {
          expect(res.status).toBe(503);
          expect(res.body.error).toMatch(/database is unavailable/);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(during).toContain(503);

      // Back: everything accepted completes.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const open = await stack.app.ctx.prisma.job.count({ where: { orgId: org.orgId, status: { in: ["pending", "processing"] } } }).catch(() => -1);
        if (open === 0) break;
        if (Date.now() > deadline) throw new Error(`${open} jobs unfinished`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const jobs = await stack.app.ctx.prisma.job.findMany({ where: { orgId: org.orgId } });
      expect(jobs.map((j) => j.id).sort()).toEqual([...accepted].sort());
      expect(jobs.every((j) => j.status === "complete")).toBe(true);
      expect(await stack.app.ctx.prisma.ledgerEntry.count({ where: { orgId: org.orgId, kind: "CHARGE" } })).toBe(accepted.length);
      await expectLedgerBalanced(stack.app.ctx.prisma, org.orgId);
      console.log(`postgres restart: ${accepted.length} accepted, answers while away: ${during.join(" ")}; all complete, charged once`);
    } finally {
      await stack.stop().catch(() => {});
    }
  });
});
