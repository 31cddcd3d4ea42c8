// With the embedded database (PGlite) only the server process may open the data directory, so
// the server listens on a Unix socket beside it and the admin CLI sends its command there.
// Newline-delimited JSON; local only, guarded by file permissions like the data itself.
import { createConnection, createServer, type Server } from "node:net";
import { rm } from "node:fs/promises";

interface Reply {
  ok: boolean;
  result?: unknown;
  error?: string;
  usage?: boolean;
}

export async function listenAdminSocket(
  socketPath: string,
  handle: (argv: string[]) => Promise<unknown>,
  isUsageError: (e: unknown) => boolean,
): Promise<Server> {
  await rm(socketPath, { force: true }); // a stale socket from a crashed run
  const server = createServer((conn) => {
    let buf = "";
    conn.setEncoding("utf8");
    conn.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      void (async () => {
        let reply: Reply;
        try {
          const { argv } = JSON.parse(line) as { argv: string[] };
          reply = { ok: true, result: await handle(argv) };
        } catch (e) {
          reply = { ok: false, error: e instanceof Error ? e.message : String(e), usage: isUsageError(e) };
        }
        conn.end(JSON.stringify(reply) + "\n");
      })();
    });
    conn.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(socketPath, resolve));
  return server;
}

/** Sends argv to a running server. Resolves null when no server listens on the socket. */
export function sendAdminCommand(socketPath: string, argv: string[]): Promise<Reply | null> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socketPath);
    let buf = "";
    conn.setEncoding("utf8");
    conn.on("connect", () => conn.write(JSON.stringify({ argv }) + "\n"));
    conn.on("data", (c: string) => (buf += c));
    conn.on("end", () => {
      try {
        resolve(JSON.parse(buf) as Reply);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    conn.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") resolve(null);
      else reject(e);
    });
  });
}

export const adminSocketPath = (pgliteDir: string) => `${pgliteDir}.sock`;
