// The Studio page's build: `npm run build:web` (also run by `postinstall`) writes src/web/dist,
// which the API serves at / (src/web/serve.ts). Offline and about a second, with no plugins:
// Vite compiles the React TSX itself with its default automatic JSX runtime (what "jsx":
// "react-jsx" in app/tsconfig.json tells tsc); the starter templates are bundled from
// test/fixtures as JSON imports.
//
// `npx vite --config src/web/vite.config.ts` serves the page with live reload on :5173 and
// proxies the API (TEMPLIFIED_API_URL, default http://localhost:3000) so it works unchanged.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const api = process.env.TEMPLIFIED_API_URL ?? "http://localhost:3000";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  publicDir: false,
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // Every file under dist/assets has a content hash in its name: served as immutable.
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      "/graphql": { target: api, ws: true, changeOrigin: true },
      "/api": { target: api, changeOrigin: true },
      "/renders": { target: api, changeOrigin: true },
      "/health": { target: api, changeOrigin: true },
    },
  },
});
