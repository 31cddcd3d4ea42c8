// Keeps the documentation true where a machine can tell (no server, no database):
// - docs/configuration.md documents every variable of the config schema in src/config.ts, with
//   its real default, and nothing the schema lacks;
// - every `npm run <script>` the docs name exists in package.json, and every script is documented;
// - every relative link in README.md and docs/*.md points at a file that exists (and, for a link
//   to a heading, at a heading that exists), and the README links every page under docs/.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/config.js";
import { parseRetrySchedule } from "../src/delivery/retry-schedule.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const read = (rel: string) => readFileSync(path.join(ROOT, rel), "utf8");
const DOCS = readdirSync(path.join(ROOT, "docs"))
  .filter((f) => f.endsWith(".md"))
  .sort()
  .map((f) => `docs/${f}`);
const PAGES = ["README.md", ...DOCS];

/** Markdown without fenced code blocks (their `#` lines are shell comments, not headings). */
const prose = (md: string) => md.replace(/^```[^\n]*\n[\s\S]*?^```[ \t]*$/gm, "");

// ------------------------------------------------------------------------------------ config

/**
 * The variables of the schema, read from its source: `parseConfig({})` alone would miss the
 * optional ones without a default (DATABASE_URL, SECRETS_KEY, …), which it leaves out.
 */
function schemaKeys(): string[] {
  const source = read("src/config.ts");
  const body = /const ConfigSchema = z\s*\.object\(\{([\s\S]*?)\n {2}\}\)\s*\.transform/.exec(source)?.[1];
  if (!body) throw new Error("could not find `const ConfigSchema = z.object({ … }).transform` in src/config.ts");
  return [...body.matchAll(/^ {4}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
}

/** `| \`NAME\` | default | meaning |` rows of docs/configuration.md: name -> default cell. */
function documentedVariables(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of read("docs/configuration.md").split("\n")) {
    const m = /^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    expect(rows.has(m[1]!), `${m[1]} is documented twice`).toBe(false);
    rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

/** Optional variables whose default is applied outside the schema: does the documented value match it? */
const DEFAULTS_APPLIED_ELSEWHERE: Record<string, (documented: string) => boolean> = {
  WEBHOOK_RETRY_SCHEDULE: (documented) =>
    isDeepStrictEqual(parseRetrySchedule(documented), parseRetrySchedule(undefined)),
};

describe("docs/configuration.md", () => {
  const keys = schemaKeys();
  const defaults = parseConfig({}) as Record<string, unknown>;
  const documented = documentedVariables();

  it("reads the whole schema (every variable parseConfig returns is among the keys read from src/config.ts)", () => {
    expect(keys.length).toBeGreaterThan(10);
    expect(Object.keys(defaults).filter((k) => !keys.includes(k))).toEqual([]);
  });

  it("documents every variable of the schema", () => {
    expect(keys.filter((k) => !documented.has(k))).toEqual([]);
  });

  it("documents no variable the schema lacks", () => {
    expect([...documented.keys()].filter((k) => !keys.includes(k))).toEqual([]);
  });

  it("gives each variable its real default", () => {
    const wrong: string[] = [];
    for (const key of keys) {
      const cell = documented.get(key);
      if (cell === undefined) continue; // reported above
      const value = /^`([^`]*)`/.exec(cell)?.[1]?.replaceAll("$PORT", String(defaults.PORT));
      if (key in defaults) {
        // The documented default, parsed like the environment, must give what an unset variable gives.
        let parsed: unknown;
        try {
          parsed = value === undefined ? undefined : (parseConfig({ [key]: value }) as Record<string, unknown>)[key];
        } catch (e) {
          parsed = `invalid: ${(e as Error).message}`;
        }
        if (!isDeepStrictEqual(parsed, defaults[key]))
          wrong.push(`${key}: documented ${cell}, default ${JSON.stringify(defaults[key])}`);
      } else if (DEFAULTS_APPLIED_ELSEWHERE[key]) {
        if (value === undefined || !DEFAULTS_APPLIED_ELSEWHERE[key](value)) wrong.push(`${key}: documented ${cell}`);
      } else if (!cell.startsWith("unset")) {
        wrong.push(`${key}: has no default, documented ${cell} (should start with "unset")`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------ scripts

describe("npm scripts in the docs", () => {
  const scripts = Object.keys((JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts);
  const text = PAGES.map(read).join("\n");
  const named = new Set([...text.matchAll(/npm run (?:-s )?([a-z][\w:-]*)/g)].map((m) => m[1]!));
  if (/\bnpm start\b/.test(text)) named.add("start");
  if (/\bnpm test\b/.test(text)) named.add("test");

  it("names only scripts that package.json has", () => {
    expect([...named].filter((s) => !scripts.includes(s))).toEqual([]);
  });

  it("documents every script (lifecycle scripts such as postinstall aside)", () => {
    const lifecycle = /^(pre|post)|^(install|prepare)$/;
    expect(scripts.filter((s) => !lifecycle.test(s) && !named.has(s))).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------ links

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchorsOf(md: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of prose(md).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}_\- ]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every relative link and image target of a page, outside code. */
function relativeLinks(md: string): string[] {
  const text = prose(md).replace(/`[^`\n]*`/g, "``");
  return [...text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

describe("links in README.md and docs/*.md", () => {
  it.each(PAGES)("%s: every relative link points at a file (and heading) that exists", (page) => {
    const broken: string[] = [];
    const links = relativeLinks(read(page));
    for (const link of links) {
      const [target = "", anchor] = link.split("#", 2);
      const file =
        target === "" ? path.join(ROOT, page) : path.resolve(ROOT, path.dirname(page), decodeURIComponent(target));
      const rel = path.relative(ROOT, file);
      if (rel.startsWith("..") || !existsSync(file)) {
        broken.push(`${link}: no such file`);
        continue;
      }
      if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(read(rel)).has(anchor))
        broken.push(`${link}: no such heading in ${rel}`);
    }
    expect(broken).toEqual([]);
  });

  it("the README links every page under docs/", () => {
    const linked = new Set(relativeLinks(read("README.md")).map((l) => path.normalize(l.split("#")[0]!)));
    expect(DOCS.filter((d) => !linked.has(path.normalize(d)))).toEqual([]);
  });
});
