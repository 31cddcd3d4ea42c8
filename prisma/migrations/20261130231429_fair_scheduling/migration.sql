-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "queued_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "jobs_org_id_status_queued_at_created_at_idx" ON "jobs"("org_id", "status", "queued_at", "created_at");

-- Jobs accepted before fair scheduling were queued at once: they count as admitted.
UPDATE "jobs" SET "queued_at" = "created_at" WHERE "kind" = 'render' AND "status" IN ('pending', 'processing');
