/**
 * The same 12 shop environments at once on a one-node swarm and on a three-node swarm (issue 15,
 * item 10). On this 2-core machine every node shares the same two cores, so the point is
 * distribution and correctness, not a speed-up: each row reports where the databases and webs
 * landed, each node's load (environments, running containers, memory reserved, at the peak) and
 * request to ready, side by side.
 *
 * Fair by construction: the same harness, worker concurrency (the shipped default), health
 * timeout, template and seed on both layouts; before each layout's first batch one unmeasured
 * environment per node pulls the images and builds the golden there (images present, golden
 * built); layouts alternate (1, 3, 3, 1 for BENCH_ROUNDS=2) so neither always runs on a machine
 * the other just loaded.
 *
 * Knobs: BENCH_ENVS (12), BENCH_ROUNDS (2), BENCH_LAYOUTS (1,3). Results:
 * bench/results/swarm-spread.{json,md} with the commit, the knobs and the load averages.
 *
 *   node --import tsx bench/swarm/spread.ts
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, uniqueName, type Harness } from '../../test/helpers/harness.js';
import { startSwarmLab, type SwarmLab } from '../../test/helpers/swarm-lab.js';
import { finishRun, median, percentile, runInfoMarkdown, startRun } from '../lib/run-info.js';

const ENVS = Number(process.env.BENCH_ENVS ?? 12);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const LAYOUTS = (process.env.BENCH_LAYOUTS ?? '1,3').split(',').map(Number);
const run = startRun('node --import tsx bench/swarm/spread.ts', { envs: ENVS, rounds: ROUNDS, layouts: LAYOUTS.join(',') });

interface NodeLoad { environments: number; peakContainers: number; peakReservedMiB: number }
interface Batch {
  nodes: number;
  order: number;
  ready: number;
  failed: string[];
  readySeconds: number[];
  /** Per environment: the nodes of its database and its web. */
  placement: { db: string; web: string }[];
  perNode: Record<string, NodeLoad>;
  peakLoad1: number;
  teardownSeconds: number;
}

/** Until ready or failed, asking with waits shorter than undici's 300 s header timeout. */
async function settle(h: Harness, name: string, deadline: number): Promise<{ status: string; failure?: unknown }> {
  for (;;) {
    const r = await h.api('GET', `/api/v1/environments/${name}?wait=120`);
    if (r.body.status === 'ready' || r.body.status === 'failed' || Date.now() > deadline) return r.body;
  }
}

/** The node of a service's running task (by hostname). */
async function nodeOf(lab: SwarmLab, project: string, service: string): Promise<string> {
  const tasks = (await lab.manager.listTasks({ filters: { service: [`${project}_${service}`], 'desired-state': ['running'] } })) as unknown as { NodeID: string }[];
  return tasks[0] ? lab.hostOf(tasks[0].NodeID) : '?';
}

/** Each node's running containers and memory reserved by running tasks of this instance, now. */
async function sampleNodes(lab: SwarmLab, instance: string): Promise<Record<string, { containers: number; reservedMiB: number }>> {
  const out: Record<string, { containers: number; reservedMiB: number }> = {};
  for (const n of lab.nodes) {
    out[n.host] = { containers: (await n.docker.listContainers({ filters: { label: [`mayfly.instance=${instance}`] } })).length, reservedMiB: 0 };
  }
  const tasks = (await lab.manager.listTasks({ filters: { 'desired-state': ['running'] } })) as unknown as
    { NodeID?: string; Status: { State: string }; Spec: { ContainerSpec?: { Labels?: Record<string, string> }; Resources?: { Reservations?: { MemoryBytes?: number } } } }[];
  for (const t of tasks) {
    if (t.Status.State !== 'running' || !t.NodeID || t.Spec.ContainerSpec?.Labels?.['mayfly.instance'] !== instance) continue;
    const host = await lab.hostOf(t.NodeID);
    if (out[host]) out[host]!.reservedMiB += (t.Spec.Resources?.Reservations?.MemoryBytes ?? 0) / 2 ** 20;
  }
  return out;
}

async function destroyAll(h: Harness, names: string[]): Promise<number> {
  const t = Date.now();
  await Promise.all(names.map((n) => h.api('DELETE', `/api/v1/environments/${n}`)));
  for (const n of names) {
    for (;;) {
      const r = await h.api('GET', `/api/v1/environments/${n}?wait=120`);
      if (r.body.status === 'destroyed' || r.status === 404) break;
      await sleep(500);
    }
  }
  return (Date.now() - t) / 1000;
}

async function batch(lab: SwarmLab, h: Harness, nodes: number, order: number): Promise<Batch> {
  const names = Array.from({ length: ENVS }, () => uniqueName(`spread${nodes}`));
  let sampling = true;
  const peak: Record<string, { containers: number; reservedMiB: number }> = {};
  let peakLoad1 = loadavg()[0]!;
  const sampler = (async () => {
    while (sampling) {
      const now = await sampleNodes(lab, h.config.instance).catch(() => ({}) as Record<string, { containers: number; reservedMiB: number }>);
      for (const [host, s] of Object.entries(now)) {
        const p = (peak[host] ??= { containers: 0, reservedMiB: 0 });
        p.containers = Math.max(p.containers, s.containers);
        p.reservedMiB = Math.max(p.reservedMiB, s.reservedMiB);
      }
      peakLoad1 = Math.max(peakLoad1, loadavg()[0]!);
      await sleep(2000);
    }
  })();
  const readySeconds: number[] = [];
  const failed: string[] = [];
  const readyNames: string[] = [];
  const deadline = Date.now() + 30 * 60_000;
  await Promise.all(names.map(async (name) => {
    const t0 = Date.now();
    const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '2h' });
    if (put.status !== 202 && put.status !== 201) { failed.push(`${name}: ${put.status} ${JSON.stringify(put.body)}`); return; }
    const end = await settle(h, name, deadline);
    if (end.status === 'ready') { readySeconds.push((Date.now() - t0) / 1000); readyNames.push(name); } else failed.push(`${name}: ${end.status} ${JSON.stringify(end.failure ?? '')}`);
  }));
  sampling = false;
  await sampler;
  const placement: { db: string; web: string }[] = [];
  const perNode: Record<string, NodeLoad> = Object.fromEntries(lab.nodes.map((n) => [n.host, { environments: 0, peakContainers: peak[n.host]?.containers ?? 0, peakReservedMiB: Math.round(peak[n.host]?.reservedMiB ?? 0) }]));
  for (const name of readyNames) {
    const env = (await h.store.getByName(name))!;
    const p = { db: await nodeOf(lab, env.project, 'db'), web: await nodeOf(lab, env.project, 'web') };
    placement.push(p);
    if (perNode[p.db]) perNode[p.db]!.environments++;
  }
  const teardownSeconds = await destroyAll(h, names);
  return { nodes, order, ready: readySeconds.length, failed, readySeconds, placement, perNode, peakLoad1: Number(peakLoad1.toFixed(2)), teardownSeconds };
}

/** One unmeasured environment per node (at most one per node at once): images pulled and the golden built everywhere. */
async function warm(h: Harness, nodes: number): Promise<void> {
  const names = Array.from({ length: nodes }, () => uniqueName('spreadwarm'));
  await Promise.all(names.map((name) => h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' })));
  const nodesUsed = new Set<string>();
  for (const name of names) {
    const end = await settle(h, name, Date.now() + 20 * 60_000);
    if (end.status !== 'ready') throw new Error(`warm-up environment ${name} did not become ready: ${JSON.stringify(end)}`);
    nodesUsed.add((await h.store.getByName(name))?.node ?? '?');
  }
  console.log(`swarm-spread: warm-up databases on ${[...nodesUsed].join(', ')} (of ${nodes} node(s))`);
  await destroyAll(h, names);
}

const order: number[] = [];
for (let r = 0; r < ROUNDS; r++) order.push(...(r % 2 === 0 ? LAYOUTS : [...LAYOUTS].reverse()));
const batches: Batch[] = [];
let lab: SwarmLab | undefined;
let h: Harness | undefined;
let current = 0;
try {
  for (const [i, nodes] of order.entries()) {
    if (nodes !== current) {
      await h?.close();
      await lab?.stop();
      lab = await startSwarmLab(nodes);
      // Shipped defaults but for the health timeout (12 at once on 2 cores) and the pending grace.
      h = await startHarness({ env: { ...lab.env, MAYFLY_HEALTH_TIMEOUT: '600s', MAYFLY_SWARM_PENDING_GRACE: '30s' } });
      current = nodes;
      console.log(`swarm-spread: lab of ${nodes} node(s) up; warming (one environment per node)`);
      await warm(h, nodes);
    }
    console.log(`swarm-spread: batch ${i + 1} of ${order.length}: ${ENVS} at once on ${nodes} node(s)`);
    const b = await batch(lab!, h!, nodes, i + 1);
    console.log(`swarm-spread: ${b.ready} ready, ${b.failed.length} failed, median ${median(b.readySeconds).toFixed(1)} s; per node ${JSON.stringify(b.perNode)}`);
    batches.push(b);
    if (batches.length < order.length) writeResults(true);
  }
} finally {
  await h?.close().catch(() => undefined);
  await lab?.stop().catch(() => undefined);
}

function writeResults(partial: boolean): void {
const info = finishRun(run);
const rows = LAYOUTS.map((nodes) => {
  const mine = batches.filter((b) => b.nodes === nodes);
  const secs = mine.flatMap((b) => b.readySeconds);
  return { nodes, batches: mine.length, ready: secs.length, failed: mine.reduce((n, b) => n + b.failed.length, 0), median: median(secs), p95: percentile(secs, 95), max: Math.max(...secs) };
});
writeFileSync(path.join(projectRoot(), 'bench/results/swarm-spread.json'), JSON.stringify({ run: info, batches, rows }, null, 2) + '\n');
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const md = [
  `# ${ENVS} shop environments at once: one swarm node against three${partial ? ` (PARTIAL: ${batches.length} of ${order.length} batches; the run was cut short)` : ''}`,
  '',
  runInfoMarkdown(info),
  'Every node of the lab is a dockerd in a network namespace of this one 2-core machine, so three nodes share the same two cores: this shows distribution and correctness, not a speed-up. Same harness, worker concurrency (shipped default), health timeout (600 s), template `shop` and seed `demo` on both layouts; images pulled and the golden built on every node first (one unmeasured environment per node); layouts in the order ' + order.join(', ') + '.',
  '',
  '## Request to ready',
  '',
  '| nodes | batches | ready | failed | median s | p95 s | slowest s |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.nodes} | ${r.batches} | ${r.ready} | ${r.failed} | ${fmt(r.median)} | ${fmt(r.p95)} | ${fmt(r.max)} |`),
  '',
  '## Placement and per-node load, per batch',
  '',
  'Environments: databases on the node (each database is pinned where its clone was made). Containers and memory reserved: the peak seen while the batch started (sampled every 2 s). Load: the machine\'s 1-minute load average at its peak during the batch.',
  '',
  '| batch | nodes | per node: environments / peak containers / peak reserved MiB | webs on another node than their database | machine load peak | teardown s |',
  '|---|---|---|---|---|---|',
  ...batches.map((b) => `| ${b.order} | ${b.nodes} | ${Object.entries(b.perNode).map(([host, l]) => `${host}: ${l.environments} / ${l.peakContainers} / ${l.peakReservedMiB}`).join('; ')} | ${b.placement.filter((p) => p.db !== p.web).length} of ${b.placement.length} | ${b.peakLoad1} | ${b.teardownSeconds.toFixed(1)} |`),
  '',
  ...batches.flatMap((b) => b.failed.map((f) => `Failed in batch ${b.order}: ${f}`)),
  '',
].join('\n');
writeFileSync(path.join(projectRoot(), 'bench/results/swarm-spread.md'), md);
console.log(md);
}
writeResults(false);
