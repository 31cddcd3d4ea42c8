import { pino, type Logger } from "pino";

export function createLogger(level: string, name = "templified"): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
