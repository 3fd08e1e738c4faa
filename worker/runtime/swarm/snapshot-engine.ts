import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { LABEL_COMPOSE_SERVICE, LABEL_ENV, LABEL_GOLDEN, LABEL_INSTANCE, goldenVolume, volumeName } from '../../../core/domain/names.js';
import { PermanentFailure } from '../../../core/domain/errors.js';
import type { CloneVia, DataVolume, DatabaseSpec, Exec, LiveCopyTarget, ProbeResult, SnapshotEngine } from '../../seeds/engine.js';
import type { EnvironmentRef } from '../runtime.js';
import { DockerSnapshotEngine } from '../docker/snapshot-engine.js';
import { dockerMessage, isNotFound } from '../docker/errors.js';
import { demux } from '../docker/streams.js';
import { listTasks, newestFirst, type SwarmCluster, type SwarmNode } from './cluster.js';
import { ClonePlacements, chooseCloneNode, loadsFrom, nodeLoads, pickNode, schedulable, swarmState } from './placement.js';
import { swarmServiceName } from './service-spec.js';

/** A golden volume on one node, as recorded by its labels there. */
export interface NodeGolden {
  key: string;
  volume: string;
  node: string;
  nodeId: string;
}

/** Told when a golden is made on a node (the worker records it with its node). */
export type GoldenRecorder = (g: NodeGolden & { sizeBytes: number | null; ms: number; onDemand: boolean }) => Promise<void> | void;

interface Builder { key: string; db: DatabaseSpec; load: (exec: Exec) => Promise<void> }

/**
 * Seed data across swarm nodes (docs/swarm.md). Volumes are node-local, so:
 * - a golden is built on one node (through that node's own Engine API) and exists per
 *   (dataset, node); another node gets its own golden on demand, built there the same way;
 * - an environment's clone is made on the node admission placed it on when that node takes tasks,
 *   else on the least loaded one (fewest environments, clones in flight included, then most free
 *   memory), with the golden built there on demand; it is checked to be non-empty, and recorded in
 *   ClonePlacements so the runtime pins the database to that node by id;
 * - every other step (remove, exists) asks every node.
 * Each node's work is done by a DockerSnapshotEngine on that node's Engine API: the same helper
 * containers and clone strategies as on one host.
 */
export class SwarmSnapshotEngine implements SnapshotEngine {
  private readonly engines = new Map<string, DockerSnapshotEngine>();
  /** How to (re)build each golden volume, learnt from buildGolden: used to build it on another node. */
  private readonly builders = new Map<string, Builder>();
  /** Builds in flight, by `volume@node`: two clones that want the same golden on a node share one build. */
  private readonly building = new Map<string, Promise<void>>();
  private readonly pulled = new Map<string, Promise<void>>();
  /** Clones being made now: environment id -> the node chosen for it (counted as load until recorded). */
  private readonly choosing = new Map<string, string>();

  constructor(
    private readonly cluster: SwarmCluster, private readonly instance: string, private readonly helperImage: string,
    private readonly placements: ClonePlacements,
    private readonly onGolden: GoldenRecorder = () => undefined,
  ) {}

  private engine(host: string, docker: Docker): DockerSnapshotEngine {
    let e = this.engines.get(host);
    // Helper containers always: the worker does not see a remote node's volume folders.
    if (!e) { e = new DockerSnapshotEngine(docker, this.instance, this.helperImage, false); this.engines.set(host, e); }
    return e;
  }

  private async on(nodeIdOrHost: string): Promise<{ node: SwarmNode; docker: Docker; engine: DockerSnapshotEngine }> {
    const docker = await this.cluster.api(nodeIdOrHost);
    const nodes = await this.cluster.nodes();
    const node = nodes.find((n) => n.id === nodeIdOrHost || n.hostname === nodeIdOrHost) ?? await this.cluster.node(nodeIdOrHost);
    return { node, docker, engine: this.engine(node.hostname, docker) };
  }

  /** Pulls an image onto one node (the golden build runs the database image there). */
  private ensureImage(host: string, docker: Docker, image: string): Promise<void> {
    const key = `${image}@${host}`;
    let p = this.pulled.get(key);
    if (!p) {
      p = (async () => {
        if (await docker.getImage(image).inspect().then(() => true, () => false)) return;
        const stream = await docker.pull(image);
        await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
          const e = err ?? out?.find((o) => o.error);
          if (e) reject(new Error(err ? dockerMessage(err) : (e as { error: string }).error)); else resolve();
        }));
      })().catch((err) => {
        this.pulled.delete(key);
        throw new PermanentFailure('IMAGE_PULL_FAILED', `node ${host} could not pull ${image}: ${dockerMessage(err)}`, { cause: err });
      });
      this.pulled.set(key, p);
    }
    return p;
  }

  /** What every schedulable node can clone by: a strategy counts only when each of them has it. */
  async probe(): Promise<ProbeResult> {
    const nodes = (await this.cluster.nodes(true)).filter(schedulable);
    const configured = new Set(this.cluster.apis().map((a) => a.host));
    const results = await Promise.all(nodes.filter((n) => configured.has(n.hostname)).map(async (n) => ({ n, r: await (await this.on(n.id)).engine.probe() })));
    if (results.length === 0) throw new PermanentFailure('SWARM_NO_NODES', 'no schedulable swarm node has an Engine API in MAYFLY_SWARM_NODES');
    const all: ProbeResult = { reflink: true, overlay: true, copy: true, notes: {}, unsure: [] };
    for (const { n, r } of results) {
      for (const s of ['reflink', 'overlay', 'copy'] as const) {
        all[s] &&= r[s];
        if (r.notes[s]) all.notes[s] = `${all.notes[s] ? `${all.notes[s]}; ` : ''}${n.hostname}: ${r.notes[s]}`;
      }
      for (const u of r.unsure) if (!all.unsure.includes(u)) all.unsure.push(u);
    }
    return all;
  }

  /** The nodes that hold a volume (by name), from each node's own list. */
  private async holders(volume: string): Promise<SwarmNode[]> {
    const found = await Promise.all((await this.cluster.reachableApis()).map(async ({ host, docker }) =>
      (await docker.getVolume(volume).inspect().then(() => true, (err) => (isNotFound(err) ? false : Promise.reject(err)))) ? host : undefined));
    const hosts = new Set(found.filter((h): h is string => !!h));
    return (await this.cluster.nodes()).filter((n) => hosts.has(n.hostname));
  }

  /** Every golden of this instance on every node (a golden is recorded per (dataset, node) by its labels there). */
  async goldens(): Promise<NodeGolden[]> {
    const nodes = await this.cluster.nodes();
    const lists = await Promise.all((await this.cluster.reachableApis()).map(async ({ host, docker }) => {
      const { Volumes } = await docker.listVolumes({ filters: { label: [LABEL_GOLDEN, `${LABEL_INSTANCE}=${this.instance}`] } });
      const id = nodes.find((n) => n.hostname === host)?.id ?? '';
      return (Volumes ?? []).map((v) => ({ key: v.Labels?.[LABEL_GOLDEN] ?? '', volume: v.Name, node: host, nodeId: id }));
    }));
    return lists.flat();
  }

  learnGolden(key: string, volume: string, db: DatabaseSpec, load: (exec: Exec) => Promise<void>): void {
    if (!this.builders.has(volume)) this.builders.set(volume, { key, db, load });
  }

  async buildGolden(key: string, volume: string, db: DatabaseSpec, load: (exec: Exec) => Promise<void>): Promise<{ sizeBytes: number | null }> {
    this.builders.set(volume, { key, db, load });
    const loads = await nodeLoads(this.cluster, this.instance);
    const target = pickNode(loads.filter((l) => this.cluster.apis().some((a) => a.host === l.node.hostname)), 0);
    if (!target) throw new PermanentFailure('SWARM_NO_NODES', 'no swarm node is ready and active (with an Engine API in MAYFLY_SWARM_NODES) to build the golden snapshot on');
    return this.buildOn(target.node, volume, false);
  }

  private async buildOn(node: SwarmNode, volume: string, onDemand: boolean): Promise<{ sizeBytes: number | null }> {
    const b = this.builders.get(volume);
    if (!b) throw new PermanentFailure('GOLDEN_UNAVAILABLE', `golden ${volume} is not on node ${node.hostname} and this worker does not know how to build it there`);
    const { docker, engine } = await this.on(node.id);
    const started = Date.now();
    await this.ensureImage(node.hostname, docker, b.db.image);
    const result = await engine.buildGolden(b.key, volume, b.db, b.load);
    await this.onGolden({ key: b.key, volume, node: node.hostname, nodeId: node.id, sizeBytes: result.sizeBytes, ms: Date.now() - started, onDemand });
    return result;
  }

  private ensureGoldenOn(node: SwarmNode, volume: string): Promise<void> {
    const k = `${volume}@${node.id}`;
    let p = this.building.get(k);
    if (!p) {
      p = this.buildOn(node, volume, true).then(() => undefined).finally(() => this.building.delete(k));
      this.building.set(k, p);
    }
    return p;
  }

  goldenVolume(key: string): string {
    return goldenVolume(this.instance, key);
  }

  /** An environment's data volume, on whichever nodes have it (and an overlay clone's upper layer). */
  removeDataVolume(of: DataVolume): Promise<void> {
    return this.removeVolume(volumeName(of.env.project, of.volume));
  }

  async volumeExists(name: string): Promise<boolean> {
    return (await this.holders(name)).length > 0;
  }

  async removeVolume(name: string): Promise<void> {
    await Promise.all((await this.cluster.reachableApis()).map(async ({ host, docker }) => this.engine(host, docker).removeVolume(name)));
  }

  /**
   * The node for a new clone (chooseCloneNode): the node admission placed the environment on when
   * it takes tasks, else the least loaded schedulable node. Load counts the instance's running
   * environments and the clones this worker made or is making (their services may not run yet),
   * so concurrent clones spread. When the chosen node has no golden yet and this worker knows how
   * to build it, it is built there first (one per node, on demand); otherwise the least loaded
   * node that has one. The choice is reserved (`choosing`) before anything else awaits.
   */
  private async cloneNode(golden: string, env: EnvironmentRef): Promise<SwarmNode> {
    const configured = new Set(this.cluster.apis().map((a) => a.host));
    const [{ nodes, tasks }, holders] = await Promise.all([swarmState(this.cluster), this.holders(golden)]);
    const have = new Set(holders.map((n) => n.id));
    // From here to the reservation nothing awaits: a concurrent clone sees this one's choice.
    const placed = [...this.placements.placed(), ...[...this.choosing].map(([envId, nodeId]) => ({ envId, nodeId }))];
    const loads = loadsFrom(nodes, tasks, this.instance, placed, env.id).filter((l) => configured.has(l.node.hostname));
    const choice = chooseCloneNode(loads, have, env.node, this.builders.has(golden));
    if (!choice) {
      const down = loads.filter((l) => have.has(l.node.id)).map((l) => `${l.node.hostname} (${l.node.state}, ${l.node.availability})`);
      throw new PermanentFailure('GOLDEN_UNAVAILABLE', `no schedulable node holds golden ${golden}${down.length ? `: it is only on ${down.join(', ')}` : ''}; `
        + 'rebuild it by retrying after the snapshot is marked removed, or bring a node back');
    }
    this.choosing.set(env.id, choice.node.id);
    if (choice.build) await this.ensureGoldenOn(choice.node, golden);
    return choice.node;
  }

  async clone(strategy: 'reflink' | 'overlay' | 'copy', golden: string, into: DataVolume, snapshot: string): Promise<CloneVia> {
    const target = volumeName(into.env.project, into.volume);
    await this.removeVolume(target);
    try {
      const node = await this.cloneNode(golden, into.env);
      const { docker, engine } = await this.on(node.id);
      const via = await engine.clone(strategy, golden, into, snapshot);
      // An empty clone would start as a fresh, empty database: that must fail here, loudly.
      const files = await this.countFiles(docker, target);
      if (files === 0) {
        await engine.removeVolume(target).catch(() => undefined);
        throw new PermanentFailure('CLONE_EMPTY', `the seed clone ${target} made on node ${node.hostname} from golden ${golden} is empty; `
          + 'the golden on that node is broken: mark the snapshot removed (it is rebuilt) and retry');
      }
      this.placements.record(target, node.id, into.env.id);
      return via;
    } finally {
      // Recorded in `placements` now (or failed): the reservation has done its work.
      this.choosing.delete(into.env.id);
    }
  }

  /** How many entries a volume's top folder has on a node (a helper container there). */
  private async countFiles(docker: Docker, volume: string): Promise<number> {
    const c = await docker.createContainer({
      Image: this.helperImage, Cmd: ['sh', '-c', 'ls -A /v | wc -l'],
      Labels: { [LABEL_INSTANCE]: this.instance, 'mayfly.helper': 'check clone' },
      HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: '/v', ReadOnly: true }], NetworkMode: 'none' },
    });
    try {
      await c.start();
      const { StatusCode } = await c.wait();
      const out = demux((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer).trim();
      if (StatusCode !== 0 || !/^\d+$/.test(out)) throw new PermanentFailure('CLONE_FAILED', `checking the clone ${volume} failed (exit ${StatusCode}): ${out}`);
      return Number(out);
    } finally {
      await c.remove({ force: true }).catch(() => undefined);
    }
  }

  async saveVolume(from: DataVolume, golden: string, saved: { snapshot: string; dataset: string }, strategy: 'reflink' | 'overlay' | 'copy'): Promise<{ sizeBytes: number | null }> {
    const source = volumeName(from.env.project, from.volume);
    const [node] = await this.holders(source);
    if (!node) throw new PermanentFailure('SNAPSHOT_FAILED', `volume ${source} is on no swarm node`);
    const started = Date.now();
    const r = await (await this.on(node.id)).engine.saveVolume(from, golden, saved, strategy);
    await this.onGolden({ key: saved.snapshot, volume: golden, node: node.hostname, nodeId: node.id, sizeBytes: r.sizeBytes, ms: Date.now() - started, onDemand: false });
    return r;
  }

  /**
   * Not yet on swarm: the container to pause runs on some node, and the copy must be made there
   * (and a fork's clone pinned to it). Checkpoints, rewinds and forks fail with this clear error.
   */
  async copyLive(from: DataVolume, _service: string, _into: LiveCopyTarget, _strategy: 'reflink' | 'copy'): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia }> {
    throw new PermanentFailure('NOT_SUPPORTED_ON_SWARM',
      `checkpoints and forks are not supported on swarm yet (MAYFLY_RUNTIME=swarm): the database of ${from.env.project} was not copied; they work with MAYFLY_RUNTIME=docker`);
  }

  async removeService(env: EnvironmentRef, service: string): Promise<void> {
    await this.cluster.manager.getService(swarmServiceName(env.project, service)).remove().catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
    await Promise.all((await this.cluster.reachableApis()).map(async ({ docker }) => {
      for (const c of await docker.listContainers({ all: true, filters: { label: [`${LABEL_ENV}=${env.id}`, `${LABEL_COMPOSE_SERVICE}=${service}`] } })) {
        await docker.getContainer(c.Id).remove({ force: true, v: true }).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      }
    }));
  }

  private async scale(env: EnvironmentRef, service: string, replicas: number): Promise<void> {
    const svc = this.cluster.manager.getService(swarmServiceName(env.project, service));
    const info = await svc.inspect() as { Spec: Docker.ServiceSpec; Version: { Index: number } };
    await svc.update({ ...info.Spec, version: info.Version.Index, Mode: { Replicated: { Replicas: replicas } } });
  }

  /** Scales the service to 0 and waits until its container stopped on its node (a clean shutdown). */
  async stopService(env: EnvironmentRef, service: string): Promise<void> {
    await this.scale(env, service, 0);
    const filter = { label: [`${LABEL_ENV}=${env.id}`, `${LABEL_COMPOSE_SERVICE}=${service}`], status: ['running', 'restarting', 'removing'] };
    const deadline = Date.now() + 90_000;
    for (;;) {
      const running = (await Promise.all((await this.cluster.reachableApis()).map(({ docker }) => docker.listContainers({ filters: filter })))).flat();
      if (running.length === 0) return;
      if (Date.now() > deadline) throw new PermanentFailure('SERVICE_STOP_TIMEOUT', `${service} of environment ${env.id} did not stop in 90 s`);
      await sleep(250);
    }
  }

  async startService(env: EnvironmentRef, service: string, healthTimeoutMs: number): Promise<void> {
    await this.scale(env, service, 1);
    const name = swarmServiceName(env.project, service);
    const deadline = Date.now() + healthTimeoutMs;
    for (;;) {
      const [task] = (await listTasks(this.cluster.manager, { service: [name], 'desired-state': ['running'] })).sort(newestFirst);
      const state = task?.Status?.State;
      if (state === 'running') return;
      if (state && ['failed', 'rejected'].includes(state)) throw new PermanentFailure('SERVICE_EXITED', `${service} ${state} after restarting: ${task?.Status?.Err ?? ''}`);
      if (Date.now() > deadline) throw new PermanentFailure('HEALTH_TIMEOUT', `${service} was not healthy in time after restarting (task ${state ?? 'not created'})`);
      await sleep(250);
    }
  }
}
