// The deliver worker on its own: `npm run start:deliver` (npm run start:worker runs it together
// with the render worker).
import { runProcess } from "../src/process.js";

await runProcess("deliver");
