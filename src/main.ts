// Process entry: `src/main.ts all` (npm start: API + workers in one process), `api`
// (npm run start:api) or `worker` (npm run start:worker: render + deliver workers). One worker
// alone: workers/render.ts, workers/deliver.ts.
import { exitWith, runProcess } from "./process.js";

const role = process.argv[2];
if (role !== "all" && role !== "api" && role !== "worker")
  exitWith("usage: node --import tsx src/main.ts all|api|worker");
await runProcess(role);
