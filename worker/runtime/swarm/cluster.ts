import { readFileSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { PermanentFailure } from '../../../core/domain/errors.js';
import type { SwarmEndpoint, SwarmSettings } from '../../../core/config/swarm.js';
import { nodeAgent, type NodeAgent } from './node-agent.js';

/**
 * One Docker Swarm as Mayfly sees it: the manager's Engine API (services, tasks, networks, logs,
 * nodes) and each node's own Engine API (exec, containers, volumes, golden builds, reaping). A
 * manager answers 404 for a container of another node, and volumes are node-local, so every
 * per-container or per-volume step goes to the node that holds it (see docs/swarm.md).
 */
export type { SwarmEndpoint, SwarmSettings } from '../../../core/config/swarm.js';

export interface SwarmNode {
  id: string;
  hostname: string;
  /** The address published ports answer on (the node's swarm address). */
  addr: string;
  /** ready / down / unknown / disconnected (the manager's view). */
  state: string;
  /** active / pause / drain. */
  availability: string;
  role: 'manager' | 'worker';
  memoryBytes: number;
  nanoCpus: number;
  labels: Record<string, string>;
}

export function dockerFor(endpoint: SwarmEndpoint, tlsDir?: string, agent?: NodeAgent): Docker {
  if (endpoint.url.startsWith('unix://')) return new Docker({ socketPath: endpoint.url.slice('unix://'.length) });
  const u = new URL(endpoint.url.replace(/^tcp:/, 'http:'));
  agent ??= nodeAgent(u.host, Boolean(tlsDir));
  // docker-modem passes `agent` on to every request; dockerode's type does not declare it.
  const withAgent = (o: Docker.DockerOptions) => new Docker({ ...o, agent } as Docker.DockerOptions);
  if (!tlsDir) return withAgent({ host: u.hostname, port: Number(u.port), protocol: 'http' });
  const read = (f: string) => readFileSync(path.join(tlsDir, f));
  return withAgent({ host: u.hostname, port: Number(u.port), protocol: 'https', ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') });
}

/** How often the cluster asks the manager about nodes that calls are waiting on. */
const WATCH_MS = 5000;

export class SwarmCluster {
  readonly manager: Docker;
  private readonly clients = new Map<string, Docker>();
  /** The connection agents of the nodes reached over tcp, by hostname. */
  private readonly agents = new Map<string, NodeAgent>();
  private cache?: { at: number; nodes: Promise<SwarmNode[]> };

  constructor(readonly settings: Pick<SwarmSettings, 'manager' | 'nodes' | 'tlsDir'>, private readonly cacheMs = 2000) {
    this.manager = dockerFor(settings.manager, settings.tlsDir);
    for (const [host, ep] of Object.entries(settings.nodes)) {
      if (ep.url === settings.manager.url) { this.clients.set(host, this.manager); continue; }
      let agent: NodeAgent | undefined;
      if (!ep.url.startsWith('unix://')) this.agents.set(host, agent = nodeAgent(host, Boolean(settings.tlsDir)));
      this.clients.set(host, dockerFor(ep, settings.tlsDir, agent));
    }
    if (this.agents.size) setInterval(() => { void this.abandonCallsToDownNodes(); }, WATCH_MS).unref();
  }

  /**
   * Ends the calls waiting on a node the manager reports down. A node cut off the network mid-call
   * sends nothing more, and TCP alone would keep the call (and the reconciler pass behind it)
   * waiting for minutes; once the manager has noticed, the call fails and the pass goes on to heal.
   */
  async abandonCallsToDownNodes(): Promise<void> {
    const waiting = [...this.agents].filter(([, a]) => a.inFlight() > 0);
    if (!waiting.length) return;
    const nodes = await this.nodes(true).catch(() => undefined);
    if (!nodes) return;
    for (const [host, agent] of waiting) {
      const n = nodes.find((x) => x.hostname === host);
      if (n && (n.state === 'down' || n.state === 'disconnected')) agent.abandon(`the swarm manager reports the node ${n.state}`);
    }
  }

  /** The swarm's nodes, as the manager reports them (cached for a moment: every wait asks). */
  nodes(fresh = false): Promise<SwarmNode[]> {
    if (!fresh && this.cache && Date.now() - this.cache.at < this.cacheMs) return this.cache.nodes;
    const nodes = this.manager.listNodes().then((list) => list.map((n): SwarmNode => {
      // A manager may report 0.0.0.0 as its own Status.Addr: its advertise address is in ManagerStatus.
      let addr = n.Status?.Addr ?? '';
      if ((!addr || addr === '0.0.0.0') && n.ManagerStatus?.Addr) addr = n.ManagerStatus.Addr.replace(/:\d+$/, '');
      return {
        id: n.ID!, hostname: n.Description?.Hostname ?? n.ID!, addr,
        state: n.Status?.State ?? 'unknown', availability: n.Spec?.Availability ?? 'active',
        role: n.Spec?.Role === 'manager' ? 'manager' : 'worker',
        memoryBytes: n.Description?.Resources?.MemoryBytes ?? 0, nanoCpus: n.Description?.Resources?.NanoCPUs ?? 0,
        labels: n.Spec?.Labels ?? {},
      };
    }));
    this.cache = { at: Date.now(), nodes };
    nodes.catch(() => { this.cache = undefined; });
    return nodes;
  }

  async node(id: string): Promise<SwarmNode> {
    let n = (await this.nodes()).find((x) => x.id === id);
    n ??= (await this.nodes(true)).find((x) => x.id === id);
    if (!n) throw new PermanentFailure('SWARM_NODE_UNKNOWN', `the swarm has no node ${id} (was it removed?)`);
    return n;
  }

  /** The Engine API of one node (by id or hostname); a node without one configured is an error that names it. */
  async api(nodeIdOrHost: string): Promise<Docker> {
    const direct = this.clients.get(nodeIdOrHost);
    if (direct) return direct;
    const n = await this.node(nodeIdOrHost);
    const c = this.clients.get(n.hostname);
    if (!c) {
      throw new PermanentFailure('SWARM_NODE_API_MISSING', `swarm node ${n.hostname} (${n.id}) has no Engine API in MAYFLY_SWARM_NODES: `
        + 'add hostname=tcp://address:2376 for it (docs/swarm.md)');
    }
    return c;
  }

  /** Every configured node's Engine API, with its hostname (for per-node listing and reaping). */
  apis(): { host: string; docker: Docker }[] {
    return [...this.clients.entries()].map(([host, docker]) => ({ host, docker }));
  }

  /**
   * The Engine APIs of the configured nodes the manager does not report down: a lost node's API
   * would only time out. What such a node still holds is reaped once it is back (the reconciler
   * lists every node again each pass).
   */
  async reachableApis(): Promise<{ host: string; docker: Docker }[]> {
    const down = new Set((await this.nodes()).filter((n) => n.state === 'down' || n.state === 'disconnected').map((n) => n.hostname));
    return this.apis().filter((a) => !down.has(a.host));
  }

  /** The node id of a configured hostname. */
  async idOf(host: string): Promise<string> {
    const n = (await this.nodes()).find((x) => x.hostname === host) ?? (await this.nodes(true)).find((x) => x.hostname === host);
    if (!n) throw new PermanentFailure('SWARM_NODE_UNKNOWN', `MAYFLY_SWARM_NODES names ${host}, which is not a node of this swarm (docker node ls)`);
    return n.id;
  }
}

/** The fields of a swarm task Mayfly reads (dockerode's own type declares almost none). */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  CreatedAt?: string;
  Version?: { Index: number };
  DesiredState?: string;
  Spec?: {
    ContainerSpec?: { Labels?: Record<string, string>; Image?: string };
    Resources?: { Reservations?: { MemoryBytes?: number }; Limits?: { MemoryBytes?: number } };
  };
  Status?: {
    Timestamp?: string;
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
    PortStatus?: { Ports?: { TargetPort?: number; PublishedPort?: number; Protocol?: string }[] };
  };
}

export async function listTasks(manager: Docker, filters: Record<string, string[]>): Promise<SwarmTask[]> {
  return (await manager.listTasks({ filters })) as unknown as SwarmTask[];
}

/** Newest task first (a restarted service keeps its old tasks in its history). */
export const newestFirst = (a: SwarmTask, b: SwarmTask) =>
  (b.CreatedAt ?? '').localeCompare(a.CreatedAt ?? '') || (b.Version?.Index ?? 0) - (a.Version?.Index ?? 0);
