import type Docker from 'dockerode';
import { PermanentFailure } from '../../../core/domain/errors.js';
import { Aborted, type EnvironmentRef, type ProgressFn } from '../runtime.js';
import { HealthProber, lastCheckOutput, type ProbedHealth } from './health.js';

/** What a service waits for of another (compose's depends_on conditions), or of itself at the end. */
export type WaitCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully' | 'service_healthy_if_any';

/**
 * Waits for services to meet a condition, running their healthcheck ourselves meanwhile (see
 * HealthProber). A service that exits or turns unhealthy fails at once, with its last log lines.
 */
export class ServiceWaiter {
  constructor(
    private readonly probedHealth: ProbedHealth,
    private readonly logs: (env: EnvironmentRef, service: string, tail: number) => Promise<string>,
  ) {}

  async until(
    env: EnvironmentRef, service: string, c: Docker.Container, condition: WaitCondition,
    deadline: number, opts: { onProgress?: ProgressFn; signal?: AbortSignal },
  ): Promise<void> {
    let announced = false;
    const prober = new HealthProber(c, this.probedHealth);
    for (;;) {
      if (opts.signal?.aborted) throw new Aborted();
      const info = await c.inspect();
      const st = info.State;
      const hasHealth = !!info.Config.Healthcheck?.Test?.length && info.Config.Healthcheck.Test[0] !== 'NONE';
      if (condition === 'service_completed_successfully') {
        if (!st.Running && st.Status === 'exited') {
          if (st.ExitCode === 0) return;
          throw await this.failure(env, service, 'SERVICE_EXITED', `${service} exited with code ${st.ExitCode}`);
        }
      } else {
        if (!st.Running && !st.Restarting) {
          throw await this.failure(env, service, 'SERVICE_EXITED', `${service} exited with code ${st.ExitCode}${st.OOMKilled ? ' (killed: out of memory, raise mem_limit)' : ''}`);
        }
        if (condition === 'service_started' && st.Running) return;
        if (condition === 'service_healthy' && !hasHealth) {
          throw new PermanentFailure('NO_HEALTHCHECK', `a service depends on ${service} being healthy, but ${service} has no healthcheck (add one to the template)`);
        }
        if (!hasHealth && st.Running) return;
        if (hasHealth && prober.seesHealthy(info)) {
          if (announced) opts.onProgress?.(`${service}: healthy`, { service });
          return;
        }
        if (st.Health?.Status === 'unhealthy') {
          // Docker's verdict lags: checks that failed while a dependency was away (a database
          // restarted by a reset or rewind, or paused for a checkpoint) leave a service that kept
          // running unhealthy until its next check, an interval later. One pass of its own
          // healthcheck now overrides that stale verdict; a failure confirms it.
          if (hasHealth && st.Running && await prober.probeOnce(info.Config.Healthcheck!) && prober.seesHealthy(info)) {
            if (announced) opts.onProgress?.(`${service}: healthy`, { service });
            return;
          }
          throw await this.failure(env, service, 'SERVICE_UNHEALTHY', `${service} is unhealthy: ${lastCheckOutput(st)}`);
        }
        if (!announced) { opts.onProgress?.(`${service}: waiting for healthy`, { service }); announced = true; }
        if (hasHealth && st.Running && condition !== 'service_started') prober.maybeProbe(info.Config.Healthcheck!);
      }
      if (Date.now() > deadline) {
        throw await this.failure(env, service, 'HEALTH_TIMEOUT', `${service} was not healthy in time (MAYFLY_HEALTH_TIMEOUT)`);
      }
      await prober.nextLook(250);
    }
  }

  private async failure(env: EnvironmentRef, service: string, code: string, message: string): Promise<PermanentFailure> {
    const logs = await this.logs(env, service, 20).catch(() => '');
    return new PermanentFailure(code, message, { details: { service, logs } });
  }
}
