import type { Config } from '../../core/config/config.js';
import type { Logger } from '../../core/platform/log.js';
import type { SnapshotEngine } from '../seeds/engine.js';
import type { Runtime } from './runtime.js';
import { dockerClient, pingDocker } from './docker/client.js';
import { startOptionsOf } from './docker/cpu-boost.js';
import { DockerRuntime } from './docker/docker-runtime.js';
import { ProbedHealth } from './docker/health.js';
import { DockerSnapshotEngine } from './docker/snapshot-engine.js';
import { createSwarmParts } from './swarm/create.js';
import type { GoldenRecorder } from './swarm/snapshot-engine.js';

/** What the worker gets from its container runtime: the two ports, and the runtime's own upkeep. */
export interface RuntimeParts {
  runtime: Runtime;
  snapshotEngine: SnapshotEngine;
  /** Rejects, saying what to do, when the engine does not answer (checked at start). */
  health(): Promise<void>;
  /** Lets go of the engine's connections. */
  close(): Promise<void>;
}

/** What a runtime may record outside the engine: on a swarm, each golden with the node it was built on. */
export interface RuntimeRecorders {
  golden?: GoldenRecorder;
}

/**
 * Builds the runtime MAYFLY_RUNTIME names (`docker`, one Docker Engine at DOCKER_HOST; `swarm`, a
 * Docker Swarm, docs/swarm.md): the one place outside worker/runtime/<implementation>/ that knows
 * an implementation; the worker's jobs only ever see the ports.
 */
export function createRuntime(config: Config, logger: Logger, recorders: RuntimeRecorders = {}): RuntimeParts {
  switch (config.runtime) {
    case 'swarm': {
      const swarm = createSwarmParts(config, config.swarm!, logger, recorders.golden);
      logger.debug({ runtime: 'swarm', manager: config.swarm!.manager.url, nodes: Object.keys(config.swarm!.nodes) }, 'container runtime');
      return {
        runtime: swarm.runtime,
        snapshotEngine: swarm.snapshots,
        health: async () => {
          await swarm.cluster.manager.ping().catch((err: Error) => {
            throw new Error(`the swarm manager at ${config.swarm!.manager.url} does not answer (MAYFLY_SWARM_MANAGER): ${err.message}`, { cause: err });
          });
        },
        close: async () => undefined,
      };
    }
    case 'docker': {
      const docker = dockerClient(config.dockerHost);
      // One memory of services our own probe saw healthy, for provisioning and for a database brought back.
      const probedHealth = new ProbedHealth();
      logger.debug({ runtime: 'docker', host: config.dockerHost ?? 'the local socket' }, 'container runtime');
      return {
        runtime: new DockerRuntime(docker, config.instance, config.registryAuth, startOptionsOf(config), probedHealth, config.pullTimeoutMs),
        snapshotEngine: new DockerSnapshotEngine(docker, config.instance, config.helperImage, config.localVolumes, probedHealth),
        health: () => pingDocker(docker, config.dockerHost),
        // dockerode keeps no connection open between requests: nothing to release.
        close: async () => undefined,
      };
    }
  }
}
