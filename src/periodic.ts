// A background pass repeated every `intervalMs` in this process (the reconciler, the retention
// sweep): one pass at a time (a tick while one runs is skipped), a failed pass logged and tried
// again at the next tick, the timer never keeping the process alive, and stop() waiting for a
// pass in flight.
import type { Logger } from "pino";

export interface Periodic {
  stop(): Promise<void>;
}

export function startPeriodic(
  pass: () => Promise<unknown>,
  intervalMs: number,
  onFailure: { logger: Pick<Logger, "warn">; message: string },
): Periodic {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = pass()
      .catch((err: unknown) => onFailure.logger.warn({ err }, onFailure.message))
      .finally(() => (running = null));
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
