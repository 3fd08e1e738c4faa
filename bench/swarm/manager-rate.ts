/**
 * The swarm manager's own rates on the lab (docs/scale.md): how fast it records services and
 * overlay networks (its raft store), and how fast replicated tasks reach `running` across the
 * three nodes. Starts the lab (test/helpers/swarm-lab.ts) and takes it down again.
 *
 * Knobs: BENCH_SERVICES (100, created with 0 replicas: the raft write alone), BENCH_NETWORKS (30),
 * BENCH_TASKS (24 services of one replica each, the helper image). Results:
 * bench/results/swarm-manager.{json,md} with the commit, the knobs and the load average.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../core/config/config.js';
import { startSwarmLab } from '../../test/helpers/swarm-lab.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 100);
const NETWORKS = Number(process.env.BENCH_NETWORKS ?? 30);
const TASKS = Number(process.env.BENCH_TASKS ?? 24);
const LABEL = { 'mayfly.bench': 'manager-rate' };

const startedLoad = loadavg();
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot() }).toString().trim();
const labStarted = Date.now();
const lab = await startSwarmLab(3);
const labUpMs = Date.now() - labStarted;
const m = lab.manager;
const image = `${lab.registry}/mayfly/debian:bookworm`;
const result: Record<string, unknown> = {};
try {
  let t = Date.now();
  for (let i = 0; i < SERVICES; i++) {
    await m.createService({ Name: `bench-idle-${i}`, Labels: LABEL, TaskTemplate: { ContainerSpec: { Image: image, Args: ['sleep', 'infinity'] } }, Mode: { Replicated: { Replicas: 0 } } } as never);
  }
  const serviceCreateMs = Date.now() - t;
  t = Date.now();
  const nets: string[] = [];
  for (let i = 0; i < NETWORKS; i++) nets.push((await m.createNetwork({ Name: `bench-net-${i}`, Driver: 'overlay', Attachable: true, Labels: LABEL })).id);
  const networkCreateMs = Date.now() - t;
  t = Date.now();
  await Promise.all(Array.from({ length: TASKS }, (_, i) => m.createService({
    Name: `bench-run-${i}`, Labels: LABEL, TaskTemplate: { ContainerSpec: { Image: image, Args: ['sleep', 'infinity'] }, Resources: { Reservations: { MemoryBytes: 8 * 1024 ** 2 } } },
    Mode: { Replicated: { Replicas: 1 } }, EndpointSpec: { Mode: 'dnsrr' },
  } as never)));
  let running = 0;
  const perNode: Record<string, number> = {};
  for (;;) {
    const tasks = (await m.listTasks({ filters: { 'desired-state': ['running'] } })) as unknown as { ServiceID: string; NodeID: string; Status: { State: string } }[];
    const mine = tasks.filter((x) => x.Status.State === 'running');
    running = mine.length;
    if (running >= TASKS || Date.now() - t > 600_000) {
      for (const x of mine) { const h = await lab.hostOf(x.NodeID); perNode[h] = (perNode[h] ?? 0) + 1; }
      break;
    }
    await sleep(250);
  }
  const tasksRunningMs = Date.now() - t;
  t = Date.now();
  for (const s of await m.listServices({ filters: { label: ['mayfly.bench=manager-rate'] } })) await m.getService(s.ID).remove();
  const serviceRemoveMs = Date.now() - t;
  for (let i = 0; i < 100; i++) {
    const left = (await m.listNetworks({ filters: { label: ['mayfly.bench=manager-rate'] } }));
    let removedAll = true;
    for (const n of left) await m.getNetwork(n.Id).remove().catch(() => { removedAll = false; });
    if (removedAll) break;
    await sleep(500);
  }
  Object.assign(result, {
    labUpMs,
    servicesCreated: SERVICES, serviceCreateMs, servicesPerSecond: Number((SERVICES / (serviceCreateMs / 1000)).toFixed(1)),
    networksCreated: NETWORKS, networkCreateMs, networksPerSecond: Number((NETWORKS / (networkCreateMs / 1000)).toFixed(1)),
    tasks: TASKS, tasksRunning: running, tasksRunningMs, tasksPerNode: perNode, serviceRemoveMs,
  });
} finally {
  await lab.stop();
}
const out = {
  at: new Date().toISOString(), commit, knobs: { services: SERVICES, networks: NETWORKS, tasks: TASKS },
  machine: { cpus: cpus().length, loadAverageAtStart: startedLoad.map((x) => Number(x.toFixed(2))), loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
  ...result,
};
const dir = path.join(projectRoot(), 'bench', 'results');
writeFileSync(path.join(dir, 'swarm-manager.json'), `${JSON.stringify(out, null, 2)}\n`);
const r = result as Record<string, number> & { tasksPerNode: Record<string, number> };
writeFileSync(path.join(dir, 'swarm-manager.md'), [
  `# Swarm manager rates on the 3-node lab (${out.at}, commit ${commit})`, '',
  `${out.machine.cpus} cores; load average ${out.machine.loadAverageAtStart.join(' / ')} at start, ${out.machine.loadAverageAtEnd.join(' / ')} at end (the machine is shared).`, '',
  '| measurement | value |', '|---|---|',
  `| ${SERVICES} services created one after another (0 replicas: the raft write) | ${r.serviceCreateMs} ms (${r.servicesPerSecond}/s) |`,
  `| ${NETWORKS} overlay networks created one after another | ${r.networkCreateMs} ms (${r.networksPerSecond}/s) |`,
  `| ${TASKS} one-replica services at once until every task runs | ${r.tasksRunningMs} ms; per node ${JSON.stringify(r.tasksPerNode)} |`,
  `| removing all ${SERVICES + TASKS} services | ${r.serviceRemoveMs} ms |`,
  '',
].join('\n'));
console.log(JSON.stringify(out));
process.exit(0);
