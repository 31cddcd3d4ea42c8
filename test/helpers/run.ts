// Runs one of the project's commands as a child process, as a user would from the shell.
import { spawn } from "node:child_process";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
// `node --import tsx`, not the tsx binary: one process, so a signal reaches the program itself
// (the tsx binary runs it in a child that SIGKILL on the parent would leave running).
const NODE_TSX = [process.execPath, "--import", "tsx"];

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 60_000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [bin, ...pre] = command === "tsx" ? NODE_TSX : [command];
    const child = spawn(bin!, [...pre, ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ChildProcess {
  child: import("node:child_process").ChildProcessWithoutNullStreams;
  exited: Promise<number | null>;
  output(): string;
}

/**
 * Starts a long-running project process: from source under tsx (`src/main.ts all`,
 * `workers/render.ts`, ...), or the build as production runs it (`dist/src/main.js api`, ...).
 */
export function startProcess(script: string[], env: Record<string, string>): ChildProcess {
  const loader = script[0]?.endsWith(".js") ? [] : NODE_TSX.slice(1);
  const child = spawn(process.execPath, [...loader, ...script], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  return { child, exited, output: () => output };
}
