// `npm run -s admin -- org create --name Acme --balance-cents 1000` and friends. Prints one JSON
// line on success; on failure a message on stderr and a non-zero exit. Uses the same
// DATABASE_URL as the server; with the embedded database it asks the running server to do it.
import { parseConfig } from "../config.js";
import { openDatabase } from "../db/client.js";
import { loadSecretsKey } from "../delivery/secrets-key.js";
import { OrganizationNotFoundError } from "../billing/organizations.js";
import { runAdminCommand, UsageError, USAGE } from "./admin-commands.js";
import { adminSocketPath, sendAdminCommand } from "./admin-socket.js";

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv.includes("--help")) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = parseConfig();
  if (!config.DATABASE_URL) {
    const reply = await sendAdminCommand(adminSocketPath(config.PGLITE_DIR), argv);
    if (reply) {
      if (!reply.ok) fail(`error: ${reply.error}`, reply.usage ? 64 : 1);
      process.stdout.write(`${JSON.stringify(reply.result)}\n`);
      return;
    }
    // No server running: open the embedded database ourselves.
  }
  // The webhook secret `org create` stores is encrypted with the server's key. With PostgreSQL this
  // command may run elsewhere than the server: use SECRETS_KEY or an existing key file, never a new
  // key (the server could not read what it encrypted). The embedded database's key file sits beside it.
  const secretsKey = () => loadSecretsKey(config, { create: !config.DATABASE_URL });
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, pgliteDir: config.PGLITE_DIR, migrate: true });
  try {
    process.stdout.write(`${JSON.stringify(await runAdminCommand({ prisma: db.prisma, secretsKey }, argv))}\n`);
  } finally {
    await db.close();
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) fail(`error: ${e.message}`, 64);
  if (e instanceof OrganizationNotFoundError) fail(`error: ${e.message}`, 1);
  fail(`error: ${e instanceof Error ? e.message : String(e)}`, 1);
});
