// npm run schema:print — writes schema.graphql from the code-first schema.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { printedSchema } from "./schema.js";

const file = path.resolve(import.meta.dirname, "../../schema.graphql");
writeFileSync(file, printedSchema());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
