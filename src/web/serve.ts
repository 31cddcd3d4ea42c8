// Serves the Studio page built by `npm run build:web` (src/web/dist): index.html at GET / (never
// cached: it names the current assets) and the content-hashed files at /assets/* (cached for a
// year, immutable). Two routes and no catch-all, so /api, /graphql, /renders and /health stay
// the API's. Without a build, / answers a short page saying how to make one.
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { PROJECT_ROOT } from "../project-root.js";

/** Where `npm run build:web` writes the page. */
export const WEB_DIST_DIR = path.join(PROJECT_ROOT, "src/web/dist");

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
};

// Scripts and styles from this origin only; images from anywhere (output URLs may live on a CDN);
// the page talks to its own origin only, over HTTP and WebSocket ('self' covers ws: and wss: to
// the same host in CSP 3), so even an injected script could not send the stored key elsewhere.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src * data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Templified Studio: not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The Studio page has not been built</h1>
<p>Run <code>npm run build:web</code> (it also runs after <code>npm install</code>), then reload this page.</p>
<p>The API itself works: <a href="/graphql">/graphql</a>, <a href="/health">/health</a> and <code>/api/v1</code>.</p>
</body></html>
`;

const SAFE_NAME = /^[\w-][\w.-]*$/;

const common = (reply: FastifyReply) =>
  reply.header("x-content-type-options", "nosniff").header("referrer-policy", "no-referrer");

export const webPlugin =
  (distDir: string = WEB_DIST_DIR): FastifyPluginAsync =>
  async (app) => {
    // Not part of the REST reference (OpenAPI).
    const options = { schema: { hide: true } };
    app.get("/", options, async (_request, reply) => {
      const html = await readFile(path.join(distDir, "index.html"), "utf8").catch(() => null);
      common(reply).header("cache-control", "no-cache").type("text/html; charset=utf-8");
      if (html === null) return reply.status(503).send(NOT_BUILT);
      return reply.header("content-security-policy", CSP).header("x-frame-options", "DENY").send(html);
    });

    app.get<{ Params: { file: string } }>("/assets/:file", options, async (request, reply) => {
      const { file } = request.params;
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()];
      const full = path.join(distDir, "assets", file);
      const info = type && SAFE_NAME.test(file) ? await stat(full).catch(() => null) : null;
      if (!type || !info?.isFile()) return reply.status(404).send({ error: "file not found" });
      return common(reply)
        .header("content-type", type)
        .header("content-length", info.size)
        .header("cache-control", "public, max-age=31536000, immutable")
        .send(createReadStream(full));
    });
  };
