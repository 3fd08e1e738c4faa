import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { ServiceState } from '../runtime.js';
import { execInContainer } from './exec.js';

const MS = 1_000_000; // nanoseconds per millisecond

/**
 * Runs a starting service's own healthcheck command while Mayfly waits for it, so that readiness
 * is seen when it happens rather than at Docker's next check: Docker runs the first check one
 * `interval` after the start, and then every `interval`. Only a pass counts (a failure here never
 * makes a service unhealthy: that stays Docker's verdict). One probe at a time per service, at
 * growing gaps (100 ms, then 1.5x, at most the check's start_interval, else 1 s), only while
 * someone waits.
 */
export class HealthProber {
  passed = false;
  private inFlight?: Promise<void>;
  private gapMs = 100;
  private nextAt = 0;

  /** @param memory where a pass is remembered for status pages (see ProbedHealth). */
  constructor(private readonly c: Docker.Container, private readonly memory?: ProbedHealth) {}

  /**
   * Whether the service counts as healthy in this inspect: Docker says so, or our probe passed
   * while this run is still going (remembered, so status pages agree before Docker's first check).
   */
  seesHealthy(info: Pick<Docker.ContainerInspectInfo, 'Id' | 'State'>): boolean {
    if (info.State.Health?.Status === 'healthy') return true;
    if (!this.passed || !info.State.Running) return false;
    this.memory?.remember(info.Id, info.State.StartedAt);
    return true;
  }

  /** The exec form of a Docker healthcheck test, or undefined for NONE / inherit. */
  static command(test: string[] | undefined): string[] | undefined {
    if (!test?.length) return undefined;
    if (test[0] === 'CMD') return test.length > 1 ? test.slice(1) : undefined;
    if (test[0] === 'CMD-SHELL') return test[1] ? ['/bin/sh', '-c', test[1]] : undefined;
    return undefined;
  }

  maybeProbe(check: { Test?: string[]; Timeout?: number; StartInterval?: number }): void {
    if (this.passed || this.inFlight || Date.now() < this.nextAt) return;
    const maxGapMs = Math.min(1000, Math.max(100, check.StartInterval ? check.StartInterval / MS : 1000));
    const cmd = HealthProber.command(check.Test);
    if (!cmd) return;
    const timeoutMs = check.Timeout ? check.Timeout / MS : 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<{ exitCode: number }>((resolve) => { timer = setTimeout(() => resolve({ exitCode: -1 }), timeoutMs); });
    this.inFlight = Promise.race([execInContainer(this.c, cmd), timedOut])
      .then((r) => { if (r.exitCode === 0) this.passed = true; }, () => undefined)
      .finally(() => {
        clearTimeout(timer);
        this.inFlight = undefined;
        this.nextAt = Date.now() + this.gapMs;
        this.gapMs = Math.min(maxGapMs, Math.round(this.gapMs * 1.5));
      });
  }

  /** Runs the healthcheck now (or waits for the one in flight) and says whether it passed. */
  async probeOnce(check: { Test?: string[]; Timeout?: number; StartInterval?: number }): Promise<boolean> {
    if (this.passed) return true;
    if (!this.inFlight) { this.nextAt = 0; this.maybeProbe(check); }
    await this.inFlight;
    return this.passed;
  }

  /** Waits `ms`, or less when a probe in flight finishes first. */
  async nextLook(ms: number): Promise<void> {
    await (this.inFlight ? Promise.race([sleep(ms), this.inFlight]) : sleep(ms));
  }
}

/**
 * Docker's "unhealthy" that no check earned: pausing a container stops its health monitor, and
 * Docker then sets the status to unhealthy ("for compatibility") until the first check after the
 * unpause, a whole `interval` later. Told apart from a real verdict by its failing streak of 0 (a
 * real unhealthy needs `retries` failures in a row; a pass resets the streak and says healthy).
 */
export function staleUnhealthy(state: Pick<Docker.ContainerInspectInfo['State'], 'Health'>): boolean {
  const h = state.Health;
  return h?.Status === 'unhealthy' && (h.FailingStreak ?? 0) === 0;
}

/** What a container's last healthcheck printed, for a message about why it is unhealthy. */
export function lastCheckOutput(state: Docker.ContainerInspectInfo['State']): string {
  return state.Health?.Log?.at(-1)?.Output?.trim() || 'its healthcheck failed';
}

/**
 * Container runs our own probe saw healthy (container id -> StartedAt of that run), so that a
 * status page says "healthy" before Docker's first check, which may be a whole `interval` after
 * the start. Docker's own verdict wins as soon as it has one; a restart is a new run and starts
 * over. Shared by everything that waits for a service (provisioning, a database brought back
 * after a dataset save). Held in memory: a worker that restarts shows Docker's view until
 * Docker checks.
 */
export class ProbedHealth {
  private readonly runs = new Map<string, string>();

  constructor(private readonly max = 10_000) {}

  remember(containerId: string, startedAt: string): void {
    if (this.runs.size >= this.max) this.runs.delete(this.runs.keys().next().value!);
    this.runs.set(containerId, startedAt);
  }

  /**
   * Docker's health, or "healthy" while Docker has not checked yet a run our probe saw healthy;
   * the unhealthy a pause leaves behind with no failed check (staleUnhealthy) reads as the last
   * passed check says: healthy, or starting when none ran.
   */
  of(info: Pick<Docker.ContainerInspectInfo, 'Id' | 'State'>): ServiceState['health'] {
    const health = info.State.Health?.Status;
    // Unpaused, with no failed check: healthy when its last check (Docker's or our probe of this run) passed.
    if (info.State.Running && !info.State.Paused && staleUnhealthy(info.State)) {
      return info.State.Health?.Log?.at(-1)?.ExitCode === 0 || this.runs.get(info.Id) === info.State.StartedAt ? 'healthy' : 'starting';
    }
    if (health === 'starting' && info.State.Running && this.runs.get(info.Id) === info.State.StartedAt) return 'healthy';
    if (health !== 'starting') this.runs.delete(info.Id);
    return health === 'healthy' || health === 'unhealthy' || health === 'starting' ? health : 'none';
  }
}
