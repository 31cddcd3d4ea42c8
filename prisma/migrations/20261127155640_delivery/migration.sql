-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "send_to" TEXT,
ADD COLUMN     "send_to_error" TEXT,
ADD COLUMN     "send_to_result" JSONB,
ADD COLUMN     "send_to_status" TEXT,
ADD COLUMN     "webhook_status" TEXT,
ADD COLUMN     "webhook_url" TEXT;

-- AlterTable
ALTER TABLE "organizations" ADD COLUMN     "previous_webhook_secret" TEXT,
ADD COLUMN     "previous_webhook_secret_expires_at" TIMESTAMPTZ(3),
ADD COLUMN     "webhook_secret" TEXT;

-- Organisations created before webhooks get a secret of their own (32 random bytes from two v4 UUIDs).
UPDATE "organizations" SET "webhook_secret" = 'whsec_' || encode(
  decode(replace(gen_random_uuid()::text, '-', ''), 'hex') || decode(replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
WHERE "webhook_secret" IS NULL;
ALTER TABLE "organizations" ALTER COLUMN "webhook_secret" SET NOT NULL;

-- CreateTable
CREATE TABLE "webhook_attempts" (
    "id" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status_code" INTEGER,
    "duration_ms" INTEGER NOT NULL,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "send_to_presets" (
    "id" TEXT NOT NULL,
    "org_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "config" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "send_to_presets_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "webhook_attempts_job_id_created_at_idx" ON "webhook_attempts"("job_id", "created_at");

-- CreateIndex
CREATE INDEX "send_to_presets_org_id_created_at_idx" ON "send_to_presets"("org_id", "created_at");

-- AddForeignKey
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "send_to_presets" ADD CONSTRAINT "send_to_presets_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
