-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "output_deleted_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "jobs_output_retention_idx" ON "jobs"("kind", "status", "output_deleted_at", "completed_at");
