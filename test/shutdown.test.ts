// SIGTERM drains: the process stops accepting, lets the in-flight render finish, then exits 0.
import { rm } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import sharp from "sharp";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createOrganization } from "../src/billing/organizations.js";
import { openDatabase, type Database } from "../src/db/client.js";
import { socialCard } from "./helpers/fixtures.js";
import { startImageHost } from "./helpers/image-host.js";
import { ROOT, startProcess } from "./helpers/run.js";
import { cleanQueuePrefix, freePort } from "./helpers/stack.js";
import { until, waitForHttp } from "./helpers/wait.js";

let db: Database | undefined;
const prefix = `test-${randomBytes(4).toString("hex")}`;
afterAll(async () => {
  await db?.close();
  await cleanQueuePrefix(inject("redisUrl"), prefix);
});

describe("graceful shutdown", () => {
  it("finishes the in-flight render before exiting on SIGTERM", async () => {
    db = await openDatabase({ databaseUrl: inject("databaseUrl"), pgliteDir: "", migrate: false });
    const { apiKey } = await createOrganization(
      { prisma: db.prisma, secretsKey: randomBytes(32) },
      { name: "drain", balanceCents: 100 },
    );

    // An image host that holds the photo until the process is draining, so the render is
    // provably mid-flight when SIGTERM lands.
    const photo = await sharp({ create: { width: 40, height: 40, channels: 3, background: "#ff0000" } })
      .png()
      .toBuffer();
    const images = await startImageHost(photo);
    const imageUrl = `${images.url}/slow.png`;

    const port = await freePort();
    const server = startProcess(["src/main.ts", "all"], {
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: inject("databaseUrl"),
      REDIS_URL: inject("redisUrl"),
      QUEUE_PREFIX: prefix,
      STORAGE_DIR: path.join(ROOT, "data", `test-renders-${prefix}`),
      ALLOW_PRIVATE_NETWORKS: "true",
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForHttp(`${base}/health`, () => server.output());
      const headers = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };
      const tpl = (await (
        await fetch(`${base}/api/v1/templates`, { method: "POST", headers, body: JSON.stringify(socialCard) })
      ).json()) as { template_id: string };
      const accepted = (await (
        await fetch(`${base}/api/v1/create`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            template_id: tpl.template_id,
            modifications: [{ name: "photo", image_url: imageUrl }],
          }),
        })
      ).json()) as { job_id: string };

      await images.waitForHeld(1); // the worker is now inside the render
      server.child.kill("SIGTERM");
      // Draining: the server no longer answers /health with 200 (closed, or 503 while closing).
      await until(
        () =>
          fetch(`${base}/health`).then(
            (r) => r.status,
            () => "closed",
          ),
        (status) => status !== 200,
        { what: "the server to stop serving after SIGTERM" },
      );
      images.release(); // only now may the render finish
      expect(await server.exited).toBe(0);

      const job = await db.prisma.job.findUniqueOrThrow({ where: { id: accepted.job_id } });
      expect(job.status).toBe("complete");
    } finally {
      server.child.kill("SIGKILL");
      await images.close();
      await rm(path.join(ROOT, "data", `test-renders-${prefix}`), { recursive: true, force: true });
    }
  });
});
