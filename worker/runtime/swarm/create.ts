import type { Config } from '../../../core/config/config.js';
import type { SwarmSettings } from '../../../core/config/swarm.js';
import type { Logger } from '../../../core/platform/log.js';
import { SwarmCluster } from './cluster.js';
import { ClonePlacements } from './placement.js';
import { SwarmSnapshotEngine, type GoldenRecorder } from './snapshot-engine.js';
import { SwarmRuntime } from './swarm-runtime.js';

/**
 * The swarm runtime and its snapshot engine, sharing one cluster client and one record of where
 * each seed clone was made (so the database is pinned to that node). MAYFLY_RUNTIME=swarm.
 */
export function createSwarmParts(config: Pick<Config, 'instance' | 'helperImage' | 'registryAuth'>, swarm: SwarmSettings, logger: Logger,
  onGolden?: GoldenRecorder): { cluster: SwarmCluster; runtime: SwarmRuntime; snapshots: SwarmSnapshotEngine } {
  const cluster = new SwarmCluster(swarm);
  const placements = new ClonePlacements();
  const recorder: GoldenRecorder = async (g) => {
    logger.info({ golden: g.key, volume: g.volume, node: g.node, sizeBytes: g.sizeBytes, ms: g.ms, onDemand: g.onDemand },
      `golden snapshot ${g.onDemand ? 'built on demand' : 'built'} on swarm node ${g.node}`);
    await onGolden?.(g);
  };
  return {
    cluster,
    runtime: new SwarmRuntime(cluster, config.instance, config.registryAuth, placements, { pendingGraceMs: swarm.pendingGraceMs }),
    snapshots: new SwarmSnapshotEngine(cluster, config.instance, config.helperImage, placements, recorder),
  };
}
