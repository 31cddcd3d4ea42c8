// Runs one process role — API + worker (npm start), API alone, or worker alone — with clear
// start-up errors and a draining shutdown on SIGTERM/SIGINT.
import type { Server } from "node:net";
import { buildApp, type App } from "./app.js";
import { adminSocketPath, listenAdminSocket } from "./cli/admin-socket.js";
import { runAdminCommand, UsageError } from "./cli/admin-commands.js";
import { ConfigError, parseConfig, redactUrl, type Config } from "./config.js";
import { ServiceUnavailableError } from "./redis.js";

export type Role = "all" | "api" | "worker" | "render" | "deliver";

/** Starts the given role and wires signals; exits with one clear line when a dependency is missing. */
export async function runProcess(role: Role): Promise<void> {
  // Whatever this process creates on disk is the service user's alone (0600 files, 0700
  // directories), including what libraries write (PGlite's files, the admin socket). The places
  // that create our own files and directories also give the modes explicitly, for embedders.
  process.umask(0o077);
  let config: Config;
  try {
    config = parseConfig();
  } catch (e) {
    if (e instanceof ConfigError) exitWith(e.message);
    throw e;
  }
  if (role !== "all" && !config.DATABASE_URL) {
    exitWith(
      `The embedded database (no DATABASE_URL) lives inside one process: run \`npm start\` for API and worker together, ` +
        `or set DATABASE_URL to a PostgreSQL server to run them apart.`,
    );
  }

  let app: App;
  try {
    const worker = role === "render" || role === "deliver" ? role : role !== "api";
    app = await buildApp(config, { api: role === "all" || role === "api", worker, migrate: true });
  } catch (e) {
    if (e instanceof ServiceUnavailableError) exitWith(e.message);
    const code = (e as { code?: string }).code;
    if (
      config.DATABASE_URL &&
      (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "28P01" || code === "28000")
    ) {
      exitWith(
        `PostgreSQL is not reachable at ${redactUrl(config.DATABASE_URL)} (${code}). Start it, or unset DATABASE_URL to use the embedded database.`,
      );
    }
    throw e;
  }

  let adminSocket: Server | null = null;
  if (app.ctx.db.kind === "pglite") {
    adminSocket = await listenAdminSocket(
      adminSocketPath(config.PGLITE_DIR),
      (argv) => runAdminCommand({ prisma: app.ctx.prisma, secretsKey: async () => app.ctx.secretsKey }, argv),
      (e) => e instanceof UsageError,
    );
  }

  const address = await app.start();
  app.ctx.logger.info(
    {
      role,
      address,
      publicBaseUrl: config.PUBLIC_BASE_URL,
      database: app.ctx.db.kind,
      queuePrefix: config.QUEUE_PREFIX,
    },
    address ? `Templified listening on ${address}` : "Templified worker started",
  );

  const shutdown = (signal: string) => {
    app.ctx.logger.info({ signal }, "draining");
    adminSocket?.close();
    app
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        app.ctx.logger.error({ err }, "shutdown failed");
        process.exit(1);
      });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

export function exitWith(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
