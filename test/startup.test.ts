// Start-up as an operator meets it: configuration errors and missing services stop the process
// with one clear line and a non-zero exit; the schema and the migrations agree.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config.js";
import { run } from "./helpers/run.js";

describe("configuration", () => {
  it("parses defaults", () => {
    const config = parseConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.PUBLIC_BASE_URL).toBe("http://localhost:3000");
    expect(config.REDIS_URL).toBe("redis://127.0.0.1:6379");
    expect(config.ALLOW_PRIVATE_NETWORKS).toBe(false);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it("derives PUBLIC_BASE_URL from PORT and strips a trailing slash", () => {
    expect(parseConfig({ PORT: "8080" }).PUBLIC_BASE_URL).toBe("http://localhost:8080");
    expect(parseConfig({ PUBLIC_BASE_URL: "https://img.example.com/" }).PUBLIC_BASE_URL).toBe(
      "https://img.example.com",
    );
  });

  it("names every invalid variable", () => {
    expect(() => parseConfig({ PORT: "eighty", ALLOW_PRIVATE_NETWORKS: "maybe", DATABASE_URL: "mysql://x" })).toThrow(
      ConfigError,
    );
    try {
      parseConfig({ PORT: "eighty", ALLOW_PRIVATE_NETWORKS: "maybe", DATABASE_URL: "mysql://x" });
    } catch (e) {
      expect((e as Error).message).toMatch(/PORT/);
      expect((e as Error).message).toMatch(/ALLOW_PRIVATE_NETWORKS/);
      expect((e as Error).message).toMatch(/DATABASE_URL/);
    }
  });
});

describe("starting without its services", () => {
  it("exits non-zero with one line naming Redis when Redis is unreachable", async () => {
    const res = await run("tsx", ["src/main.ts", "all"], {
      REDIS_URL: "redis://127.0.0.1:1",
      DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/unused",
    });
    expect(res.code).not.toBe(0);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:1 .*redis-server/);
  });

  it("exits non-zero naming the variable when the configuration is invalid", async () => {
    const res = await run("tsx", ["src/main.ts", "all"], { PORT: "-1" });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/PORT/);
  });
});

describe("migrations", () => {
  it("db:check passes: every change in schema.prisma is covered by a migration", async () => {
    const res = await run("node", ["prisma/tools/migrate.mjs", "check"]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("migrations match schema.prisma");
  });
});

describe("db:check catches drift", () => {
  it("exits 2 when schema.prisma has a change no migration covers", async () => {
    const { mkdir, readFile, rm, writeFile } = await import("node:fs/promises");
    const schema = await readFile("prisma/schema.prisma", "utf8");
    const drifted = schema.replace("model Organization {", "model Organization {\n  nickname String?");
    expect(drifted).not.toBe(schema);
    await mkdir("data", { recursive: true });
    const file = `data/drift-${process.pid}.prisma`;
    await writeFile(file, drifted);
    try {
      const res = await run("node", ["prisma/tools/migrate.mjs", "check"], { PRISMA_SCHEMA: file });
      expect(res.code).toBe(2);
      expect(res.stdout).toContain("nickname");
    } finally {
      await rm(file, { force: true });
    }
  });
});
