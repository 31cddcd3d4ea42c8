// The render worker on its own: `npm run start:render`. Start as many as you like, on any
// machine that reaches the same PostgreSQL and Redis. (`npm run start:worker` runs the render
// and deliver workers together.)
import { runProcess } from "../src/process.js";

await runProcess("render");
