-- CreateEnum
CREATE TYPE "JobKind" AS ENUM ('render', 'group');

-- DropForeignKey
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_template_id_fkey";

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "design_group_id" TEXT,
ADD COLUMN     "kind" "JobKind" NOT NULL DEFAULT 'render',
ADD COLUMN     "parent_id" TEXT,
ALTER COLUMN "template_id" DROP NOT NULL,
ALTER COLUMN "template_version" DROP NOT NULL,
ALTER COLUMN "document" DROP NOT NULL;

-- CreateTable
CREATE TABLE "design_groups" (
    "id" TEXT NOT NULL,
    "org_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "template_ids" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "design_groups_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "design_groups_org_id_created_at_idx" ON "design_groups"("org_id", "created_at");

-- CreateIndex
CREATE INDEX "jobs_parent_id_idx" ON "jobs"("parent_id");

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_template_id_fkey" FOREIGN KEY ("template_id") REFERENCES "templates"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_design_group_id_fkey" FOREIGN KEY ("design_group_id") REFERENCES "design_groups"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_parent_id_fkey" FOREIGN KEY ("parent_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "design_groups" ADD CONSTRAINT "design_groups_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
