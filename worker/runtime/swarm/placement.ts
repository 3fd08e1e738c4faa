import { LABEL_ENV, LABEL_INSTANCE } from '../../../core/domain/names.js';
import { listTasks, type SwarmCluster, type SwarmNode } from './cluster.js';

/** What one node holds now: memory reserved by running tasks and the environments it serves. */
export interface NodeLoad {
  node: SwarmNode;
  reservedBytes: number;
  environments: number;
}

/** A node takes new work only when the manager sees it ready and active (not drained or paused). */
export const schedulable = (n: SwarmNode) => n.state === 'ready' && n.availability === 'active';

/**
 * The node for a new seed clone (and so for the environment's database): among schedulable
 * nodes (restricted to `among` when given) where `needBytes` still fits, the one with the fewest
 * environments, then the most free memory, then by hostname (a stable answer). Undefined when
 * none fits.
 */
export function pickNode(loads: readonly NodeLoad[], needBytes: number, among?: ReadonlySet<string>): NodeLoad | undefined {
  const fits = loads.filter((l) => schedulable(l.node) && (!among || among.has(l.node.id))
    && (!l.node.memoryBytes || l.node.memoryBytes - l.reservedBytes >= needBytes));
  return fits.sort((a, b) => a.environments - b.environments
    || (b.node.memoryBytes - b.reservedBytes) - (a.node.memoryBytes - a.reservedBytes)
    || a.node.hostname.localeCompare(b.node.hostname))[0];
}

/** The load of every node of the swarm, from the manager's tasks (one call). */
export async function nodeLoads(cluster: SwarmCluster, instance: string): Promise<NodeLoad[]> {
  const [nodes, tasks] = await Promise.all([
    cluster.nodes(true),
    listTasks(cluster.manager, { 'desired-state': ['running'] }),
  ]);
  const reserved = new Map<string, number>();
  const envs = new Map<string, Set<string>>();
  for (const t of tasks) {
    if (!t.NodeID) continue;
    const spec = t.Spec;
    reserved.set(t.NodeID, (reserved.get(t.NodeID) ?? 0) + (spec?.Resources?.Reservations?.MemoryBytes ?? 0));
    const labels = spec?.ContainerSpec?.Labels ?? {};
    if (labels[LABEL_ENV] && labels[LABEL_INSTANCE] === instance) {
      if (!envs.has(t.NodeID)) envs.set(t.NodeID, new Set());
      envs.get(t.NodeID)!.add(labels[LABEL_ENV]!);
    }
  }
  return nodes.map((node) => ({ node, reservedBytes: reserved.get(node.id) ?? 0, environments: envs.get(node.id)?.size ?? 0 }));
}

/**
 * Where this worker made each environment's seed clone (volume name -> node id), shared by the
 * snapshot engine (which writes it) and the runtime (which pins the database there). The
 * volumes' own labels on each node are the durable record; this lets the runtime tell "the clone
 * vanished" (fail) from "there never was one" (a fresh volume anywhere).
 */
export class ClonePlacements {
  private readonly where = new Map<string, { node: string; envId: string }>();

  record(volume: string, nodeId: string, envId: string): void {
    this.where.set(volume, { node: nodeId, envId });
  }

  nodeOf(volume: string): string | undefined {
    return this.where.get(volume)?.node;
  }

  /** The environment's volumes are gone (teardown). */
  forget(envId: string): void {
    for (const [v, p] of this.where) if (p.envId === envId) this.where.delete(v);
  }
}
