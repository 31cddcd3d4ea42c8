// The render worker on its own: `npm run start:worker`. Start as many as you like, on any
// machine that reaches the same PostgreSQL and Redis.
import { runProcess } from "../src/process.js";

await runProcess("worker");
