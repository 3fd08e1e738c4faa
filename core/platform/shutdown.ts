import type { Logger } from './log.js';

/** One thing a process closes when it stops (a server, the job workers, a pool). */
export interface CloseStep {
  name: string;
  close: () => Promise<unknown>;
  /** What it means for an operator when this step did not finish (logged with it). */
  ifAbandoned?: string;
}

/**
 * Runs the steps in order, all within `graceMs`. A step that fails is logged and the next one
 * runs; a step still running when the grace period ends is abandoned with every step after it.
 * Resolves with the names of the steps that failed or were abandoned (empty: a clean stop).
 */
export async function closeWithin(steps: readonly CloseStep[], graceMs: number, logger: Logger): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  const unfinished: string[] = [];
  for (const [i, step] of steps.entries()) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now())); });
    const outcome = await Promise.race([
      step.close().then(() => 'done' as const, (err: unknown) => {
        logger.error({ err, step: step.name }, `stopping: closing ${step.name} failed`);
        return 'failed' as const;
      }),
      timedOut,
    ]).finally(() => clearTimeout(timer));
    if (outcome === 'failed') unfinished.push(step.name);
    if (outcome === 'timeout') {
      const abandoned = steps.slice(i);
      for (const s of abandoned) {
        logger.error({ step: s.name, graceMs }, `stopping: ${s.name} did not close within the grace period (MAYFLY_SHUTDOWN_GRACE); abandoned${s.ifAbandoned ? `: ${s.ifAbandoned}` : ''}`);
      }
      unfinished.push(...abandoned.map((s) => s.name));
      break;
    }
  }
  return unfinished;
}

/**
 * The one close path of a process: the first SIGTERM or SIGINT runs `steps()` through
 * closeWithin and exits 0 when everything closed, 1 when work was abandoned or a step failed
 * (a supervisor then knows the stop was not clean). A later signal changes nothing.
 */
export function exitOnSignals(logger: Logger, graceMs: number, steps: () => readonly CloseStep[], onStop?: (signal: string) => void): void {
  let stopping = false;
  const stop = (signal: string) => {
    // A terminal's Ctrl-C and a supervisor may both signal: the grace period bounds the stop.
    if (stopping) { logger.info({ signal }, 'already stopping'); return; }
    stopping = true;
    onStop?.(signal);
    void closeWithin(steps(), graceMs, logger).then((unfinished) => {
      if (unfinished.length) logger.error({ unfinished }, 'stopped without closing everything');
      else logger.info('stopped');
      process.exit(unfinished.length ? 1 : 0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
