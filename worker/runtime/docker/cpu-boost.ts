import type Docker from 'dockerode';
import type { Config } from '../../../core/config/config.js';
import type { ServiceSpec } from '../../../core/stack/model.js';

/** How the runtime starts services; see docs/how-it-works.md (MAYFLY_START_CPU_BOOST). */
export interface StartOptions {
  /**
   * Start each container with more CPU and apply the service's CPU limit once it is healthy: a
   * Node app limited to half a core boots in twice the time. Memory and pids limits always hold
   * from the start. An environment only becomes ready after its limits are applied.
   */
  cpuBoost: boolean;
  /**
   * The most CPU any container may have (MAYFLY_MAX_CPUS, in nano-CPUs): a boosted start gets the
   * engine's whole CPU, but never more than this. Unset: the engine's whole CPU.
   */
  maxNanoCpus?: number;
}

/** The start options of a configuration: the boost on or off, capped by the policy's CPU maximum. */
export function startOptionsOf(config: Pick<Config, 'startCpuBoost' | 'policy'>): StartOptions {
  return { cpuBoost: config.startCpuBoost, maxNanoCpus: config.policy.maxLimits.nanoCpus };
}

/**
 * The CPU a service starts with when boosted, or undefined for no boost: the engine's CPU, capped
 * by the maximum, and only when that is more than the service's own limit (NanoCpus 0 means
 * "unchanged" to an update, so a boost is never 0).
 */
export function startNanoCpus(limitNanoCpus: number | undefined, engineNanoCpus: number, maxNanoCpus?: number): number | undefined {
  if (!limitNanoCpus) return undefined;
  const boost = maxNanoCpus ? Math.min(engineNanoCpus, maxNanoCpus) : engineNanoCpus;
  return limitNanoCpus < boost ? boost : undefined;
}

/** Decides each service's start-time CPU (MAYFLY_START_CPU_BOOST), asking the engine its CPU count once. */
export class CpuBoost {
  private engineCpus?: Promise<number>;

  constructor(private readonly docker: Pick<Docker, 'info'>, private readonly options: StartOptions = { cpuBoost: true }) {}

  /** All of the engine's CPU, in nano-CPUs. */
  private engineNanoCpus(): Promise<number> {
    this.engineCpus ??= this.docker.info().then((i: { NCPU?: number }) => Math.max(1, i.NCPU ?? 1) * 1e9, (err) => {
      this.engineCpus = undefined;
      throw err;
    });
    return this.engineCpus;
  }

  /** The NanoCpus a service's container starts with, or undefined when it starts at its limit. */
  async for(svc: ServiceSpec): Promise<number | undefined> {
    if (!this.options.cpuBoost || !svc.limits.nanoCpus) return undefined;
    return startNanoCpus(svc.limits.nanoCpus, await this.engineNanoCpus(), this.options.maxNanoCpus);
  }
}
