import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { PermanentFailure } from '../../../core/domain/errors.js';
import { LABEL_COMPOSE_NETWORK, LABEL_ENV, networkName } from '../../../core/domain/names.js';
import type { EnvironmentRef } from '../runtime.js';
import { baseLabels } from './container-spec.js';
import { dockerMessage, dockerStatus, isConflict, isNotFound } from './errors.js';

type Filters = { label: string[] };

/** Environment networks on one Docker Engine: one bridge network per environment, named as compose names it. */
export class Networks {
  constructor(private readonly docker: Docker, private readonly instance: string) {}

  /** Creates the environment's network, or finds it; one of that name that is not the environment's is a clash. */
  async ensure(env: EnvironmentRef): Promise<void> {
    const name = networkName(env.project);
    try {
      await this.docker.createNetwork({
        Name: name, Driver: 'bridge', CheckDuplicate: true,
        Labels: { ...baseLabels(this.instance, env), [LABEL_COMPOSE_NETWORK]: 'default' },
      });
    } catch (err) {
      if (/available, non-overlapping IPv4 address pool/.test(dockerMessage(err))) {
        const count = await this.docker.listNetworks().then((n) => String(n.length), () => 'unknown');
        throw new PermanentFailure('NETWORK_POOLS_EXHAUSTED',
          `Docker has no address range left for this environment's network (${count} networks exist; each environment needs one). `
          + 'Destroy environments or unused networks (docker network prune), cap them with MAYFLY_MAX_ENVIRONMENTS, '
          + 'or give dockerd more pools (default-address-pools in /etc/docker/daemon.json; see docs/limits.md)', { cause: err });
      }
      if (!isConflict(err)) throw err;
      const info = await this.docker.getNetwork(name).inspect();
      if (info.Labels?.[LABEL_ENV] !== env.id) {
        throw new PermanentFailure('NAME_CLASH', `a network named ${name} exists that does not belong to this environment`);
      }
    }
  }

  list(filters: Filters): Promise<Docker.NetworkInspectInfo[]> {
    return this.docker.listNetworks({ filters });
  }

  /** The ids of the containers attached to these networks (someone else's attached container would keep one alive). */
  async attached(networks: { Id: string }[]): Promise<string[]> {
    const ids: string[] = [];
    for (const n of networks) {
      const info = await this.docker.getNetwork(n.Id).inspect().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      ids.push(...Object.keys(info?.Containers ?? {}));
    }
    return ids;
  }

  /** Removes each network (its containers must be going); "not found" is done. Returns how many it removed. */
  async remove(networks: { Id: string }[]): Promise<number> {
    let removed = 0;
    for (const n of networks) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.docker.getNetwork(n.Id).remove();
          removed++;
          break;
        } catch (err) {
          if (isNotFound(err)) break;
          // 403/409 "has active endpoints": a container is still being removed; give it a moment.
          if ((isConflict(err) || dockerStatus(err) === 403) && attempt < 20) { await sleep(250); continue; }
          throw err;
        }
      }
    }
    return removed;
  }
}
