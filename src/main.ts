// Process entry: `tsx src/main.ts all` (npm start: API + render worker in one process) or
// `tsx src/main.ts api` (npm run start:api). The worker alone: workers/render.ts.
import { exitWith, runProcess } from "./process.js";

const role = process.argv[2];
if (role !== "all" && role !== "api") exitWith("usage: tsx src/main.ts all|api");
await runProcess(role);
