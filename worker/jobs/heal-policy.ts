/**
 * When the reconciler heals a ready environment whose containers stopped (an engine or host
 * restart), waits, or gives up. Pure: the reconciler passes what the timeline says.
 *
 * Heals are counted within a sliding window, not over the environment's life: a long-lived
 * environment survives any number of restarts spread over days, while one whose containers keep
 * dying fails after `perWindow` heals in `windowMs`. Between heals it backs off (BACKOFF_BASE_MS,
 * doubling with each recent heal, at most windowMs / perWindow), so a flapping engine is not
 * hammered with redeploys.
 */
export const HEAL_BACKOFF_BASE_MS = 15_000;

export interface HealHistory {
  /** Heals within the window. */
  recent: number;
  /** When the latest of them began (undefined when none). */
  lastAt: Date | undefined;
}

export type HealDecision =
  | { action: 'heal'; attempt: number }
  | { action: 'wait'; untilMs: number }
  | { action: 'give-up' };

export function healBackoffMs(recent: number, windowMs: number, perWindow: number): number {
  if (recent <= 0) return 0;
  return Math.min(HEAL_BACKOFF_BASE_MS * 2 ** (recent - 1), Math.floor(windowMs / perWindow));
}

export function decideHeal(history: HealHistory, nowMs: number, windowMs: number, perWindow: number): HealDecision {
  if (history.recent >= perWindow) return { action: 'give-up' };
  const untilMs = (history.lastAt?.getTime() ?? 0) + healBackoffMs(history.recent, windowMs, perWindow);
  if (history.lastAt && nowMs < untilMs) return { action: 'wait', untilMs };
  return { action: 'heal', attempt: history.recent + 1 };
}
