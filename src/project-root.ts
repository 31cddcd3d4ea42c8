// The project's root folder (the one holding package.json), found from this file's own place, so
// files that live outside the code (the Studio build, migrations, schema.graphql) are found the same
// way whether the code runs from src/ under tsx or compiled to dist/src/ (npm start).
import { existsSync } from "node:fs";
import path from "node:path";

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findProjectRoot(import.meta.dirname);
