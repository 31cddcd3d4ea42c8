-- AlterTable
ALTER TABLE "organizations" ADD COLUMN     "previous_url_signing_secret" TEXT,
ADD COLUMN     "previous_url_signing_secret_expires_at" TIMESTAMPTZ(3),
ADD COLUMN     "url_signing_secret" TEXT;

-- CreateTable
CREATE TABLE "signed_renders" (
    "org_id" TEXT NOT NULL,
    "digest" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "signed_renders_pkey" PRIMARY KEY ("org_id","digest")
);

-- AddForeignKey
ALTER TABLE "signed_renders" ADD CONSTRAINT "signed_renders_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
