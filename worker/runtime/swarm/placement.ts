import { LABEL_ENV, LABEL_INSTANCE } from '../../../core/domain/names.js';
import { listTasks, type SwarmCluster, type SwarmNode, type SwarmTask } from './cluster.js';

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

/** An environment placed on a node (its seed clone made or being made there), running or not yet. */
export interface Placed { nodeId: string; envId: string }

/**
 * The load of every node: the memory its running tasks reserve, and the environments it serves,
 * counted once each over the instance's running tasks and `placed` (clones made or being made
 * there whose services may not run yet, so concurrent choices see each other). `exclude` (the
 * environment being placed) is not counted anywhere.
 */
export function loadsFrom(nodes: readonly SwarmNode[], tasks: readonly SwarmTask[], instance: string, placed: Iterable<Placed> = [], exclude?: string): NodeLoad[] {
  const reserved = new Map<string, number>();
  const envs = new Map<string, Set<string>>();
  const add = (nodeId: string, envId: string) => {
    if (envId === exclude) return;
    if (!envs.has(nodeId)) envs.set(nodeId, new Set());
    envs.get(nodeId)!.add(envId);
  };
  for (const t of tasks) {
    if (!t.NodeID) continue;
    const spec = t.Spec;
    reserved.set(t.NodeID, (reserved.get(t.NodeID) ?? 0) + (spec?.Resources?.Reservations?.MemoryBytes ?? 0));
    const labels = spec?.ContainerSpec?.Labels ?? {};
    if (labels[LABEL_ENV] && labels[LABEL_INSTANCE] === instance) add(t.NodeID, labels[LABEL_ENV]);
  }
  for (const p of placed) add(p.nodeId, p.envId);
  return nodes.map((node) => ({ node, reservedBytes: reserved.get(node.id) ?? 0, environments: envs.get(node.id)?.size ?? 0 }));
}

/** The swarm's nodes and its running tasks, as the manager reports them now (one call each). */
export async function swarmState(cluster: SwarmCluster): Promise<{ nodes: SwarmNode[]; tasks: SwarmTask[] }> {
  const [nodes, tasks] = await Promise.all([
    cluster.nodes(true),
    listTasks(cluster.manager, { 'desired-state': ['running'] }),
  ]);
  return { nodes, tasks };
}

/** The load of every node of the swarm, from the manager's tasks. */
export async function nodeLoads(cluster: SwarmCluster, instance: string): Promise<NodeLoad[]> {
  const { nodes, tasks } = await swarmState(cluster);
  return loadsFrom(nodes, tasks, instance);
}

/**
 * The node for an environment's seed clone, and whether its golden must be built there first:
 * - the node admission placed it on (`preferred`, a hostname), when that node takes tasks; a
 *   drained, paused or down node is never chosen (a heal after a drain or loss goes elsewhere);
 * - otherwise the least loaded schedulable node (pickNode);
 * - that node is used when it holds the golden, or when the golden can be built there
 *   (`canBuild`); otherwise the least loaded schedulable node that holds the golden.
 * Undefined when none will do.
 */
export function chooseCloneNode(loads: readonly NodeLoad[], have: ReadonlySet<string>, preferred: string | undefined, canBuild: boolean): { node: SwarmNode; build: boolean } | undefined {
  const placed = preferred ? pickNode(loads.filter((l) => l.node.hostname === preferred), 0) : undefined;
  const best = placed ?? pickNode(loads, 0);
  if (best && have.has(best.node.id)) return { node: best.node, build: false };
  if (best && canBuild) return { node: best.node, build: true };
  const withGolden = pickNode(loads, 0, have);
  return withGolden ? { node: withGolden.node, build: false } : undefined;
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

  /** Every environment with a clone recorded, and its node (an environment once per node). */
  placed(): Placed[] {
    const seen = new Set<string>();
    const out: Placed[] = [];
    for (const { node, envId } of this.where.values()) {
      if (seen.has(`${node} ${envId}`)) continue;
      seen.add(`${node} ${envId}`);
      out.push({ nodeId: node, envId });
    }
    return out;
  }

  /** The environment's volumes are gone (teardown). */
  forget(envId: string): void {
    for (const [v, p] of this.where) if (p.envId === envId) this.where.delete(v);
  }
}
