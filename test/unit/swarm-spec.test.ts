/** The swarm runtime's pure parts: service specs, node choice, and its configuration. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../core/config/config.js';
import { parseNodeList } from '../../core/config/swarm.js';
import type { ServiceSpec } from '../../core/stack/model.js';
import { LABEL_CONFIG_HASH } from '../../core/domain/names.js';
import { MISSING_CLONE_DEVICE, swarmServiceSpec } from '../../worker/runtime/swarm/service-spec.js';
import { ClonePlacements, chooseCloneNode, loadsFrom, pickNode, type NodeLoad, type Placed } from '../../worker/runtime/swarm/placement.js';
import type { SwarmNode, SwarmTask } from '../../worker/runtime/swarm/cluster.js';
import { endpointsOf } from '../../worker/jobs/provision.js';

const MiB = 1024 ** 2;
const env = { id: '11111111-2222-3333-4444-555555555555', project: 'mayfly-shop', generation: 3 };
const db: ServiceSpec = {
  name: 'db', image: 'r/postgres:15', environment: { POSTGRES_DB: 'shop' }, ports: [], volumes: [{ source: 'dbdata', target: '/var/lib/postgresql/data', readOnly: false }],
  tmpfs: [], dependsOn: [], labels: {}, restart: 'unless-stopped', shmBytes: 128 * MiB,
  healthcheck: { test: ['CMD', 'pg_isready'], intervalMs: 10_000, startIntervalMs: 500, timeoutMs: 5000, retries: 3 },
  limits: { memoryBytes: 256 * MiB, nanoCpus: 5e8, pids: 128 },
};
const web: ServiceSpec = { ...db, name: 'web', volumes: [], ports: [{ container: 3000, protocol: 'tcp' }], command: ['node', 'server.js'], entrypoint: ['tini', '--'], shmBytes: undefined };
const base = { network: 'net1', image: 'r/postgres@sha256:abc', job: false, noStartInterval: true };

describe('swarm service specs', () => {
  it('when a compose service becomes a swarm service, then it is replicated once, dnsrr, aliased by its name, with memory reserved as limited and host-mode ports', () => {
    const spec = swarmServiceSpec('inst', env, web, base) as any;
    assert.equal(spec.Name, 'mayfly-shop_web');
    assert.deepEqual(spec.Mode, { Replicated: { Replicas: 1 } });
    assert.deepEqual(spec.EndpointSpec, { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 3000, PublishMode: 'host' }] });
    assert.deepEqual(spec.TaskTemplate.Networks, [{ Target: 'net1', Aliases: ['web'] }]);
    assert.deepEqual(spec.TaskTemplate.Resources, { Limits: { MemoryBytes: 256 * MiB, NanoCPUs: 5e8, Pids: 128 }, Reservations: { MemoryBytes: 256 * MiB } });
    assert.equal(spec.TaskTemplate.ContainerSpec.Image, 'r/postgres@sha256:abc', 'the digest the pull resolved, the same on every node');
    // Compose's entrypoint is the swarm Command, its command the Args.
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Command, ['tini', '--']);
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Args, ['node', 'server.js']);
    assert.equal(spec.TaskTemplate.ContainerSpec.Labels['mayfly.env'], env.id, 'its containers carry the environment (per-node reaping)');
    assert.deepEqual(spec.TaskTemplate.Placement.Constraints, []);
  });

  it('when the engine ignores start_interval, then the check runs at the start pace (its DNS name resolves only once healthy); otherwise both are kept', () => {
    const old = swarmServiceSpec('inst', env, db, base) as any;
    assert.equal(old.TaskTemplate.ContainerSpec.HealthCheck.Interval, 500e6);
    assert.equal(old.TaskTemplate.ContainerSpec.HealthCheck.StartInterval, undefined);
    const now = swarmServiceSpec('inst', env, db, { ...base, noStartInterval: false }) as any;
    assert.equal(now.TaskTemplate.ContainerSpec.HealthCheck.Interval, 10_000e6);
    assert.equal(now.TaskTemplate.ContainerSpec.HealthCheck.StartInterval, 500e6);
  });

  it('when the database\'s clone lives on a node, then it is pinned there by node id and its volume would refuse to be created anywhere else', () => {
    const spec = swarmServiceSpec('inst', env, db, { ...base, pinnedNode: 'node-abc', mustExist: new Set(['dbdata']) }) as any;
    assert.deepEqual(spec.TaskTemplate.Placement.Constraints, ['node.id==node-abc']);
    const [mount] = spec.TaskTemplate.ContainerSpec.Mounts;
    assert.equal(mount.Source, 'mayfly-shop_dbdata');
    assert.deepEqual(mount.VolumeOptions.DriverConfig, { Name: 'local', Options: { type: 'none', device: MISSING_CLONE_DEVICE, o: 'bind' } });
    assert.equal(mount.VolumeOptions.Labels['mayfly.env'], env.id);
    assert.deepEqual(spec.TaskTemplate.ContainerSpec.Mounts[1], { Type: 'tmpfs', Target: '/dev/shm', TmpfsOptions: { SizeBytes: 128 * MiB } });
    const free = swarmServiceSpec('inst', env, db, base) as any;
    assert.equal(free.TaskTemplate.ContainerSpec.Mounts[0].VolumeOptions.DriverConfig, undefined, 'a volume that does not exist yet is made wherever the task lands');
  });

  it('when a dependency must complete, then it is a ReplicatedJob that is never restarted', () => {
    const spec = swarmServiceSpec('inst', env, { ...web, name: 'migrate' }, { ...base, job: true }) as any;
    assert.deepEqual(spec.Mode, { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } });
    assert.equal(spec.TaskTemplate.RestartPolicy.Condition, 'none');
  });

  it('when only the generation changes, then the configuration hash stays (the service is kept); a changed image changes it', () => {
    const a = swarmServiceSpec('inst', env, web, base) as any;
    const b = swarmServiceSpec('inst', { ...env, generation: 4 }, web, base) as any;
    const c = swarmServiceSpec('inst', env, web, { ...base, image: 'r/postgres@sha256:def' }) as any;
    assert.match(a.Labels[LABEL_CONFIG_HASH], /^[0-9a-f]{16}$/);
    assert.equal(a.Labels[LABEL_CONFIG_HASH], b.Labels[LABEL_CONFIG_HASH]);
    assert.notEqual(a.Labels[LABEL_CONFIG_HASH], c.Labels[LABEL_CONFIG_HASH]);
  });
});

describe('swarm endpoints', () => {
  it('when a service runs on a swarm node, then its endpoint is that node\'s address and published port; on one engine it stays 127.0.0.1', () => {
    assert.deepEqual(endpointsOf([
      { service: 'web', containerId: 'c1', running: true, health: 'healthy', ports: { '3000/tcp': 30001 }, host: '10.241.0.12' },
      { service: 'adminer', containerId: 'c2', running: true, health: 'none', ports: { '8080/tcp': 30002 } },
    ], 'web'), { web: '10.241.0.12:30001', adminer: '127.0.0.1:30002' });
  });
});

const node = (id: string, over: Partial<SwarmNode> = {}): SwarmNode => ({
  id, hostname: `host-${id}`, addr: `10.0.0.${id.length}`, state: 'ready', availability: 'active', role: 'worker', memoryBytes: 1024 * MiB, nanoCpus: 2e9, labels: {}, ...over,
});
const load = (n: SwarmNode, environments: number, reservedBytes = 0): NodeLoad => ({ node: n, environments, reservedBytes });

describe('swarm placement', () => {
  it('when a clone needs a node, then the one with the fewest environments wins, then the most free memory, and drained, down or full nodes never do', () => {
    const loads = [load(node('a'), 2), load(node('b'), 1, 512 * MiB), load(node('c'), 1, 128 * MiB), load(node('d', { availability: 'drain' }), 0), load(node('e', { state: 'down' }), 0)];
    assert.equal(pickNode(loads, 0)?.node.id, 'c');
    assert.equal(pickNode(loads, 1100 * MiB), undefined, 'no node has 1100 MiB free');
    assert.equal(pickNode(loads, 950 * MiB)?.node.id, 'a', 'only a still fits 950 MiB');
    assert.equal(pickNode(loads, 0, new Set(['a', 'b']))?.node.id, 'b', 'among the nodes that hold the golden');
    assert.equal(pickNode(loads, 0, new Set(['d']))?.node.id, undefined, 'a drained golden node is not used');
  });

  const task = (nodeId: string, envId: string, instance = 'test', reserved = 0): SwarmTask => ({
    ID: `t-${nodeId}-${envId}`, ServiceID: 's', NodeID: nodeId,
    Spec: { ContainerSpec: { Labels: { 'mayfly.env': envId, 'mayfly.instance': instance } }, Resources: { Reservations: { MemoryBytes: reserved } } },
  });

  it('when environments are placed on nodes but not running yet, then they count on their node once each, beside the running ones', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const tasks = [task('a', 'e1', 'test', 100 * MiB), task('a', 'e1'), task('b', 'e2'), task('c', 'other', 'another-instance', 50 * MiB)];
    const placed: Placed[] = [{ nodeId: 'a', envId: 'e1' }, { nodeId: 'c', envId: 'e3' }, { nodeId: 'c', envId: 'e4' }];
    const loads = loadsFrom(nodes, tasks, 'test', placed);
    assert.deepEqual(loads.map((l) => [l.node.id, l.environments, l.reservedBytes / MiB]), [['a', 1, 100], ['b', 1, 0], ['c', 2, 50]],
      'e1 runs and is placed on a: one environment; e3 and e4 are placed on c and not running yet: two; another instance\'s task reserves memory but is not ours');
    assert.deepEqual(loadsFrom(nodes, tasks, 'test', placed, 'e4').map((l) => l.environments), [1, 1, 1], 'the environment being placed is not counted');
  });

  it('when 12 clones are chosen one after another with nothing running yet, then each sees the ones before it and they spread 4, 4 and 4', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const placed: Placed[] = [];
    for (let i = 0; i < 12; i++) {
      const choice = chooseCloneNode(loadsFrom(nodes, [], 'test', placed), new Set(['a']), undefined, true)!;
      placed.push({ nodeId: choice.node.id, envId: `e${i}` });
    }
    const perNode: Record<string, number> = {};
    for (const p of placed) perNode[p.nodeId] = (perNode[p.nodeId] ?? 0) + 1;
    assert.deepEqual(perNode, { a: 4, b: 4, c: 4 });
  });

  it('when admission placed the environment on a node that takes tasks, then its clone goes there, built there on demand when it has no golden yet', () => {
    const loads = [load(node('a'), 0), load(node('b'), 3), load(node('c'), 1)];
    assert.deepEqual(chooseCloneNode(loads, new Set(['a', 'b']), 'host-b', true), { node: loads[1]!.node, build: false }, 'preferred even though more loaded');
    assert.deepEqual(chooseCloneNode(loads, new Set(['a']), 'host-c', true), { node: loads[2]!.node, build: true }, 'golden built on the preferred node');
    assert.deepEqual(chooseCloneNode(loads, new Set(['a']), 'host-c', false), { node: loads[0]!.node, build: false }, 'a worker that cannot build it uses a node that has it');
  });

  it('when the recorded node is drained or down (a heal after a drain or loss), then it is never chosen: the least loaded schedulable node is', () => {
    const drained = [load(node('a', { availability: 'drain' }), 0), load(node('b'), 2), load(node('c'), 1)];
    assert.equal(chooseCloneNode(drained, new Set(['a', 'b', 'c']), 'host-a', true)?.node.id, 'c', 'drained: the least loaded other node');
    const down = [load(node('a', { state: 'down' }), 0), load(node('b'), 1), load(node('c'), 1)];
    assert.equal(chooseCloneNode(down, new Set(['a']), 'host-a', true)?.node.id, 'b', 'down: another node (by name on a tie), the golden built there');
    assert.equal(chooseCloneNode(down, new Set(['a']), 'host-a', false), undefined, 'only a down node has the golden and it cannot be built: none');
  });

  it('when a clone is recorded and its environment torn down, then its node is forgotten', () => {
    const p = new ClonePlacements();
    p.record('mayfly-shop_dbdata', 'n2', env.id);
    assert.equal(p.nodeOf('mayfly-shop_dbdata'), 'n2');
    p.forget(env.id);
    assert.equal(p.nodeOf('mayfly-shop_dbdata'), undefined);
  });
});

describe('swarm configuration', () => {
  const swarmEnv = { MAYFLY_RUNTIME: 'swarm', MAYFLY_SWARM_MANAGER: 'unix:///run/m.sock', MAYFLY_SWARM_NODES: 'n1=unix:///run/m.sock,n2=unix:///run/n2.sock' };

  it('when MAYFLY_RUNTIME is unset, then the worker drives one Docker Engine', () => {
    assert.equal(loadConfig({}).runtime, 'docker');
    assert.equal(loadConfig({}).swarm, undefined);
  });

  it('when MAYFLY_RUNTIME=swarm names a manager and nodes, then the swarm settings hold them', () => {
    const c = loadConfig(swarmEnv);
    assert.equal(c.runtime, 'swarm');
    assert.deepEqual(c.swarm?.nodes, { n1: { url: 'unix:///run/m.sock' }, n2: { url: 'unix:///run/n2.sock' } });
    assert.equal(c.swarm?.pendingGraceMs, 5000);
  });

  it('when a swarm setting is wrong, then the error names the variable', () => {
    assert.throws(() => loadConfig({ MAYFLY_RUNTIME: 'k8s' }), /MAYFLY_RUNTIME must be docker, swarm/);
    assert.throws(() => loadConfig({ ...swarmEnv, MAYFLY_SWARM_MANAGER: '' }), /MAYFLY_SWARM_MANAGER/);
    assert.throws(() => loadConfig({ ...swarmEnv, MAYFLY_SWARM_NODES: 'n1' }), /MAYFLY_SWARM_NODES .*"n1" is not hostname=url/);
    assert.throws(() => loadConfig({ ...swarmEnv, MAYFLY_SWARM_NODES: 'n1=tcp://10.0.0.1:2376' }), /MAYFLY_SWARM_TLS_DIR must be set/, 'a root-equivalent API over plain tcp is refused');
    assert.throws(() => parseNodeList('a=unix:///x,a=unix:///y'), /listed twice/);
  });
});
