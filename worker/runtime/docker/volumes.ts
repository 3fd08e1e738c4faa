import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { PermanentFailure } from '../../../core/domain/errors.js';
import { LABEL_COMPOSE_VOLUME, LABEL_ENV, LABEL_INSTANCE, LABEL_PROBE, LABEL_ROLE, ROLE_DATA, volumeName } from '../../../core/domain/names.js';
import type { EnvironmentRef } from '../runtime.js';
import { baseLabels } from './container-spec.js';
import { isConflict, isNotFound } from './errors.js';

type Filters = { label: string[] };

/** Volumes on one Docker Engine: an environment's named volumes, named as compose names them. */
export class Volumes {
  constructor(private readonly docker: Docker, private readonly instance: string) {}

  /** Creates one of the stack's named volumes, or finds it; one of that name that is not the environment's is a clash. */
  async ensure(env: EnvironmentRef, volume: string): Promise<void> {
    const name = volumeName(env.project, volume);
    const existing = await this.docker.getVolume(name).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    if (existing) {
      if (existing.Labels?.[LABEL_ENV] !== env.id) throw new PermanentFailure('NAME_CLASH', `a volume named ${name} exists that does not belong to this environment`);
      return;
    }
    await this.docker.createVolume({ Name: name, Labels: { ...baseLabels(this.instance, env), [LABEL_COMPOSE_VOLUME]: volume, [LABEL_ROLE]: ROLE_DATA } });
  }

  async list(filters: Filters): Promise<Docker.VolumeInspectInfo[]> {
    return (await this.docker.listVolumes({ filters })).Volumes ?? [];
  }

  /**
   * Removes a volume; "not found" is done, and one still in use by a container being removed
   * (409) is given a moment, up to 20 times. Returns whether it removed it.
   */
  async remove(name: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.docker.getVolume(name).remove();
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        if (isConflict(err) && attempt < 20) { await sleep(250); continue; }
        throw err;
      }
    }
  }

  /**
   * Removes this instance's clone-strategy probe volumes older than `maxAgeMs`, when its worker
   * died mid-probe (a probe takes seconds; one still in use answers 409 and stays). Returns how many.
   */
  async removeProbeLeftovers(maxAgeMs: number): Promise<number> {
    let n = 0;
    for (const v of await this.list({ label: [LABEL_PROBE, `${LABEL_INSTANCE}=${this.instance}`] })) {
      const created = Date.parse((v as { CreatedAt?: string }).CreatedAt ?? '');
      if (!Number.isNaN(created) && Date.now() - created < maxAgeMs) continue;
      await this.docker.getVolume(v.Name).remove().then(() => n++, (err) => { if (!isNotFound(err) && !isConflict(err)) throw err; });
    }
    return n;
  }
}
