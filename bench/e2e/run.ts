/**
 * End-to-end benchmark: Mayfly against the script a user would otherwise write, side by side in
 * one run, on the shop template with its images already pulled and its golden built.
 *
 *   npm run bench:e2e                 full (see bench/README.md for every knob)
 *   npm run bench:e2e -- --quick      levels 1 and 3, the demo seed, 2 runs at 1 (marked quick)
 *   npm run bench:e2e -- --api-only   only the API rows (bench/results/e2e-api.{json,md})
 *   npm run bench:e2e -- --ready-only only request to ready (BENCH_LEVELS), printed (not written)
 *
 * Contenders, at every level and seed, in an order that rotates at every batch:
 * - `mayfly`: Mayfly as shipped (its default worker concurrency, health timeout, CPU start
 *   boost; the template as in templates/shop);
 * - `mayfly-no-boost`: the same with MAYFLY_START_CPU_BOOST=off, so that the CPU treatment
 *   matches the baseline's (each container at its `cpus` limit from the start);
 * - `compose-same`: `docker-compose up -d` + the seed loaded with psql/pg_restore, at most as
 *   many projects at once as Mayfly provisions at once (its worker concurrency);
 * - `compose-all`: the same, every project of the level at once (what a script with `&` does).
 *
 * Measured per environment: request to ready (until the web service answers `/api/products`
 * with the seeded products), Mayfly's phases from its own ready event, the baseline's steps,
 * cost (container CPU-seconds and peak memory from request to ready; orchestration CPU, i.e.
 * this process, docker-compose and the engine daemons, shared over the level), idle cost per
 * hour (level 1), teardown to clean; wake from sleep against `docker-compose stop`/`start`;
 * TTL lateness and API latency as before. Every result file records the commit, the knobs and
 * the load average before and after (bench/lib/run-info.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, existsSync, openSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type Docker from 'dockerode';
import type pg from 'pg';
import Handlebars from 'handlebars';
import YAML from 'yaml';
import { loadConfig, projectRoot } from '../../core/config/config.js';
import { yamlQuote } from '../../core/catalog/templates.js';
import { LABEL_ENV } from '../../core/domain/names.js';
import { startHarness, labeledObjects, TOKEN, type Harness } from '../../test/helpers/harness.js';
import { freePort } from '../../test/helpers/private-engines.js';
import { ensureDatasets, largeTables, type BenchDataset } from '../seeds/datasets.js';
import { CpuWindow, containersCost, type ContainerCost } from '../lib/cost.js';
import { finishRun, median, percentile, runInfoMarkdown, startRun, type RunInfo } from '../lib/run-info.js';

const root = projectRoot();
const QUICK = process.argv.includes('--quick');
/** Only the API rows (written to e2e-api.*): for working on the API's speed. */
const API_ONLY = process.argv.includes('--api-only');
/** Only request to ready, printed and not written: for working on provisioning speed. */
const READY_ONLY = process.argv.includes('--ready-only');
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').map((x) => x.trim()).filter(Boolean);
const LEVELS = list('BENCH_LEVELS', QUICK ? '1,3' : '1,5,10,20').map(Number);
/** Seeds: `demo` (the template's 12 products) and generated ones, the 12 products plus filler tables. */
const SEEDS = list('BENCH_SEEDS', QUICK ? 'demo' : 'demo,shop-1gb');
/** Levels for the generated (large) seeds: the baseline's restore of 1 GB at 20 at once would take the whole run. */
const BIG_SEED_LEVELS = list('BENCH_BIG_SEED_LEVELS', QUICK ? '1' : '1,5').map(Number);
const RUNS_AT_ONE = Number(process.env.BENCH_RUNS ?? (QUICK ? 2 : 10));
const CONTENDERS = list('BENCH_CONTENDERS', 'mayfly,mayfly-pool,mayfly-no-boost,mayfly-recorded,compose-same,compose-all');
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? (QUICK ? 10 : 60));
const WAKE_RUNS = Number(process.env.BENCH_WAKE_RUNS ?? (QUICK ? 2 : 5));
const TTL_ENVS = Number(process.env.BENCH_TTL_ENVS ?? (QUICK ? 4 : 20));
/** The first TTL environment's lease; each next one's is 2 s longer. */
const TTL_BASE_SECONDS = Number(process.env.BENCH_TTL_BASE ?? (QUICK ? 40 : 150));
const API_SECONDS = Number(process.env.BENCH_API_SECONDS ?? (QUICK ? 5 : 20));
const API_RATE = Number(process.env.BENCH_API_RATE ?? 500);
const RECORDED = Number(process.env.BENCH_RECORDED ?? 200);
/** Where result files go (a smoke run writes elsewhere so that it is never committed as results). */
const OUT_DIR = process.env.BENCH_OUT_DIR ?? path.join(root, 'bench', 'results');
/** Mayfly's worker concurrency as shipped (the default, chosen from the machine), unless BENCH_WORKER_CONCURRENCY names one. */
const SHIPPED = loadConfig({});
const CONCURRENCY = process.env.BENCH_WORKER_CONCURRENCY ? Number(process.env.BENCH_WORKER_CONCURRENCY) : SHIPPED.workerConcurrency;
const stateDir = process.env.MAYFLY_STATE_DIR ?? '/var/lib/mayfly';
const adminUrl = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';
const PRODUCTS_SQL = path.join(root, 'seed-data', 'demo', '01-products.sql');
const SEEDED_PRODUCTS = 12;
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Generated seeds: the demo products (so the same readiness check holds) plus filler tables. */
async function bigSeeds(): Promise<BenchDataset[]> {
  const products = await readFile(PRODUCTS_SQL, 'utf8');
  return [
    { name: 'shop-1gb', sql: products + largeTables(2_500_000), description: 'the 12 demo products plus about 1 GB of items, customers and orders' },
    { name: 'shop-5gb', sql: products + largeTables(12_500_000), description: 'the 12 demo products plus about 5 GB of items, customers and orders' },
  ];
}

// ------------------------------------------------------------------------------------ contenders

type ContenderId = 'mayfly' | 'mayfly-pool' | 'mayfly-no-boost' | 'mayfly-recorded' | 'compose-same' | 'compose-all';
/** The warm pool's size in the `mayfly-pool` row (templates/shop ships with none). */
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 1);
/** Environments the `mayfly-recorded` row's database holds before it is measured (destroyed ones, with their timelines). */
const HISTORY = Number(process.env.BENCH_HISTORY ?? 1000);
const LABELS: Record<ContenderId, string> = {
  mayfly: 'Mayfly, shipped defaults',
  'mayfly-pool': `Mayfly, shipped defaults plus a warm pool of ${POOL_SIZE} in the shop template (pool.size: ${POOL_SIZE}); each batch starts with the pool full`,
  'mayfly-no-boost': 'Mayfly, MAYFLY_START_CPU_BOOST=off',
  'mayfly-recorded': `Mayfly, shipped defaults, its database holding ${HISTORY} recorded environments (destroyed, each with its timeline) before the first batch`,
  'compose-same': `docker-compose + seed, ${CONCURRENCY} at a time (Mayfly's concurrency)`,
  'compose-all': 'docker-compose + seed, all at once',
};

interface Sample {
  readyMs: number;
  /** Mayfly: its phases (ready event timings, plus the PUT answer and from ready to the first answer). Baseline: up, seed, answer. */
  phasesMs: Record<string, number>;
  cost: ContainerCost;
}
interface Cell {
  seed: string; level: number; contender: ContenderId;
  samples: Sample[]; teardownMs: number[]; failed: string[];
  /** Orchestration CPU seconds per environment (this process, waited-for children, engine daemons), over the batches. */
  orchestrationCpuSeconds: number[];
  idle?: { cpuSecondsPerHour: number; memoryBytes: number; seconds: number };
  /** mayfly-pool: claims that took a standby (hits) and requests that found none ready (misses). */
  pool?: { hits: number; misses: number };
}

/** Waits until the web service answers with the seeded products: the point every contender is measured to. */
async function seededAnswer(url: string, deadlineMs = 600_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      // Previews are private: the router lets the bench's API token in (Authorization: Bearer).
      const res = await fetch(`${url}/api/products`, { signal: AbortSignal.timeout(2000), headers: { authorization: `Bearer ${TOKEN}` } });
      if (res.ok && ((await res.json()) as { products: unknown[] }).products.length === SEEDED_PRODUCTS) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${url} never answered with the seeded products`);
    await sleep(50);
  }
}

/** Runs `fn` over `items`, at most `parallel` at once; settles every one. */
async function limited<T, R>(items: T[], parallel: number, fn: (t: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!).then((value) => ({ status: 'fulfilled', value }) as const, (reason) => ({ status: 'rejected', reason }) as const);
    }
  }));
  return out;
}

// ---------------------------------------------------------------------------------------- Mayfly

async function mayflyUp(h: Harness, name: string, seed: string, template = 'shop'): Promise<{ id: string; url: string; sample: Sample }> {
  const t0 = performance.now();
  const put = await h.api('PUT', `/api/v1/environments/${name}`, { template, tag: 'main', ttl: '2h', seed });
  const putMs = performance.now() - t0;
  if (put.status !== 202) throw new Error(`PUT ${name}: ${put.status} ${JSON.stringify(put.body)}`);
  let url: string | undefined;
  let readySeen = 0;
  while (!url) {
    const env = await h.store.getById(put.body.id);
    if (env?.status === 'failed') {
      const events = (await h.store.events(env.id)).map((e) => `  ${e.at.toISOString()} ${e.type}: ${e.message.slice(0, 400)}`).join('\n');
      throw new Error(`${name} failed: ${env.failure?.message}\n${events}`);
    }
    if (env?.status === 'ready') { url = env.urls.web; readySeen = performance.now(); } else await sleep(25);
  }
  await seededAnswer(url);
  const answered = performance.now();
  const readyMs = answered - t0;
  const cost = await containersCost(h.docker, [`${LABEL_ENV}=${put.body.id}`]);
  const ready = (await h.store.events(put.body.id)).findLast((e) => e.type === 'ready');
  const timings = ((ready?.data as { timings?: Record<string, number> } | undefined)?.timings) ?? {};
  const phasesMs: Record<string, number> = { put: putMs };
  for (const [k, v] of Object.entries(timings)) if (typeof v === 'number') phasesMs[k.replace(/Ms$/, '')] = v;
  phasesMs.answer = answered - readySeen; // ready seen to the first seeded answer
  return { id: put.body.id, url, sample: { readyMs, phasesMs, cost } };
}

async function mayflyDown(h: Harness, name: string, id: string): Promise<number> {
  const t0 = performance.now();
  const del = await h.api('DELETE', `/api/v1/environments/${name}`);
  if (del.status !== 202) throw new Error(`DELETE ${name}: ${del.status}`);
  for (;;) {
    const env = await h.store.getById(id);
    if (env?.status === 'destroyed') {
      const left = await labeledObjects(h.docker, id);
      if (left.containers + left.networks + left.volumes === 0) return performance.now() - t0;
    }
    await sleep(50);
  }
}

// -------------------------------------------------------------------------------------- baseline

/** The shop template rendered with the same images, its port published on 127.0.0.1 like Mayfly's. */
async function composeFile(h: Harness, dir: string): Promise<string> {
  const template = h.ctx.catalog.get('shop');
  const q = (s: string) => new Handlebars.SafeString(yamlQuote(s));
  const text = Handlebars.compile(template.source, { strict: true, noEscape: true })({
    env: { id: q('00000000-0000-0000-0000-000000000000'), name: q('baseline'), project: q('baseline') },
    images: Object.fromEntries(Object.entries(template.images).map(([s, i]) => [s, q(i.image)])),
  });
  const doc = YAML.parse(text) as { services: Record<string, { ports?: string[]; healthcheck?: Record<string, unknown> }> };
  for (const svc of Object.values(doc.services)) {
    if (svc.ports) svc.ports = svc.ports.map((p) => (/^\d+$/.test(String(p)) ? `127.0.0.1::${p}` : String(p)));
    // docker-compose 1.29 (and Docker before 25) have no start_interval: a user of them checks at
    // the start pace all the time, or waits a whole interval for every dependency to turn healthy.
    // The baseline gets the fast start (and pays its idle cost: see the idle rows).
    const hc = svc.healthcheck;
    if (hc?.start_interval) { hc.interval = hc.start_interval; delete hc.start_interval; }
  }
  const file = path.join(dir, 'docker-compose.yml');
  await writeFile(file, YAML.stringify(doc));
  return file;
}

const compose = (file: string, project: string, args: string[], input?: string | { path: string }) => new Promise<string>((resolve, reject) => {
  const child = spawn('docker-compose', ['-f', file, '-p', project, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.on('error', reject);
  child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`docker-compose ${args.join(' ')} (${project}) exited ${code}: ${out.slice(-800)}`))));
  if (input && typeof input === 'object') createReadStream(input.path).on('error', reject).pipe(child.stdin);
  else child.stdin.end(input ?? '');
});

/** How the baseline loads a seed: psql for the demo's SQL, pg_restore for a generated dump. */
function seedStep(seedsDir: string, seed: string): { args: string[]; input: string | { path: string } } {
  const dump = path.join(seedsDir, seed, 'data.dump');
  if (existsSync(dump)) return { args: ['exec', '-T', 'db', 'pg_restore', '-U', 'shop', '-d', 'shop', '--no-owner', '--exit-on-error'], input: { path: dump } };
  return { args: ['exec', '-T', 'db', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop'], input: { path: PRODUCTS_SQL } };
}

async function webPort(docker: Docker, project: string): Promise<number> {
  // The published port from the Docker API (milliseconds), not `docker-compose port` (a second of
  // Python start-up): a script with a fixed port would not pay it either.
  const [web] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=web'] } });
  const port = web?.Ports.find((p) => p.PrivatePort === 3000 && p.PublicPort)?.PublicPort;
  if (!port) throw new Error(`${project}: web publishes no port`);
  return port;
}

/** What a user's script does: up -d, load the seed, wait for the app to show the data. */
async function baselineUp(docker: Docker, file: string, project: string, seed: { args: string[]; input: string | { path: string } }): Promise<Sample> {
  const t0 = performance.now();
  await compose(file, project, ['up', '-d']);
  // web depends_on db being healthy, so up -d returns with the database accepting connections.
  const upMs = performance.now() - t0;
  const s0 = performance.now();
  await compose(file, project, seed.args, seed.input);
  const seedMs = performance.now() - s0;
  const a0 = performance.now();
  await seededAnswer(`http://127.0.0.1:${await webPort(docker, project)}`);
  const readyMs = performance.now() - t0;
  const cost = await containersCost(docker, [`com.docker.compose.project=${project}`]);
  return { readyMs, phasesMs: { up: upMs, seed: seedMs, answer: performance.now() - a0 }, cost };
}

async function baselineDown(file: string, project: string): Promise<number> {
  const t0 = performance.now();
  await compose(file, project, ['down', '-v', '--remove-orphans']);
  return performance.now() - t0;
}

// ----------------------------------------------------------------------------------------- levels

interface Ctx { harnesses: Partial<Record<ContenderId, Harness>>; docker: Docker; file: string; seedsDir: string; made: Set<string> }

/** The idle cost of what is up now: container CPU over `seconds`, scaled to an hour, and memory in use at the end. */
async function idleCost(docker: Docker, labels: string[][], seconds: number): Promise<{ cpuSecondsPerHour: number; memoryBytes: number; seconds: number }> {
  const before = await Promise.all(labels.map((l) => containersCost(docker, l)));
  const window = await CpuWindow.open();
  await sleep(seconds * 1000);
  const after = await Promise.all(labels.map((l) => containersCost(docker, l)));
  const orchestration = await window.close();
  const n = labels.length;
  const containerCpu = after.reduce((s, a, i) => s + a.cpuSeconds - before[i]!.cpuSeconds, 0);
  // The engine daemons' and this process's idle CPU (Mayfly's reconciler, its health probes) are shared by what is up.
  const shared = orchestration.self + orchestration.children + orchestration.engine;
  return { cpuSecondsPerHour: ((containerCpu + shared) / n) * (3600 / seconds), memoryBytes: after.reduce((s, a) => s + a.memoryBytes, 0) / n, seconds };
}

/** Waits until the pool holds its full size of ready standbys (a batch then starts as a request arriving at a quiet moment would). */
async function poolFull(h: Harness): Promise<void> {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const stats = (await h.ctx.admission.poolStats()).find((p) => p.template === 'shop');
    if (stats && stats.ready >= stats.size) return;
    await sleep(250);
  }
  throw new Error('the warm pool did not fill within 10 minutes');
}

/**
 * Copies one destroyed environment `n` times (new id, name and project) with its timeline, straight
 * in SQL: the history a Mayfly that has run for a while holds.
 */
async function recordHistory(pool: pg.Pool, name: string, n: number): Promise<{ environments: number; events: number }> {
  const columns = async (table: string) => (await pool.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position', [table])).rows.map((c) => c.column_name);
  const envCols = await columns('environments');
  const set: Record<string, string> = { id: 'gen_random_uuid()', name: `'hist-' || g`, project: `'hist' || g` };
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO environments (${envCols.join(', ')}) SELECT ${envCols.map((c) => set[c] ?? `e.${c}`).join(', ')}
       FROM environments e, generate_series(1, $1) g WHERE e.name = $2 AND e.status = 'destroyed' RETURNING id`, [n, name]);
  if (rows.length !== n) throw new Error(`recordHistory: expected ${n} copies of the destroyed ${name}, made ${rows.length}`);
  const evCols = (await columns('environment_events')).filter((c) => c !== 'id');
  const { rowCount } = await pool.query(
    `INSERT INTO environment_events (${evCols.join(', ')}) SELECT ${evCols.map((c) => (c === 'environment_id' ? 'n.id' : `v.${c}`)).join(', ')}
       FROM environment_events v JOIN environments e ON e.id = v.environment_id AND e.name = $1 AND e.status = 'destroyed',
            unnest($2::uuid[]) AS n(id)`,
    [name, rows.map((r) => r.id)]);
  return { environments: rows.length, events: rowCount ?? 0 };
}

async function runBatch(c: Ctx, cell: Cell, batch: number, measureIdle: boolean): Promise<void> {
  const { level, seed, contender } = cell;
  const poolHarness = contender === 'mayfly-pool' ? c.harnesses['mayfly-pool']! : undefined;
  if (poolHarness && seed === 'demo') await poolFull(poolHarness);
  const poolBefore = poolHarness ? (await poolHarness.ctx.admission.poolStats()).find((p) => p.template === 'shop') : undefined;
  const window = await CpuWindow.open();
  const tag = `${seed.replace(/[^a-z0-9]/g, '')}-${level}-${batch}`;
  const up: { sample: Sample; down: () => Promise<number>; labels: string[] }[] = [];
  if (contender.startsWith('mayfly')) {
    const h = c.harnesses[contender]!;
    const letter = { mayfly: 'm', 'mayfly-pool': 'p', 'mayfly-no-boost': 'n', 'mayfly-recorded': 'r' }[contender as 'mayfly'];
    const names = Array.from({ length: level }, (_, i) => `e2e-${letter}-${tag}-${i}`);
    // An environment that fails (on 2 cores, 10 or 20 at once can miss their healthchecks) is
    // counted and reported, not a reason to throw the whole run away.
    const settled = await Promise.allSettled(names.map((n) => mayflyUp(h, n, seed)));
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') up.push({ sample: r.value.sample, down: () => mayflyDown(h, names[i]!, r.value.id), labels: [`${LABEL_ENV}=${r.value.id}`] });
      else cell.failed.push(String((r.reason as Error).message).split('\n')[0]!);
    });
    // Failed ones are torn down too (not timed).
    await Promise.all(settled.map(async (r, i) => {
      if (r.status === 'rejected') { const env = await h.store.getByName(names[i]!); if (env) await mayflyDown(h, names[i]!, env.id).catch(() => 0); }
    }));
  } else {
    const projects = Array.from({ length: level }, (_, i) => `mayflybench-${process.pid}-${tag}-${contender === 'compose-all' ? 'a' : 's'}-${i}`);
    projects.forEach((p) => c.made.add(p));
    const step = seedStep(c.seedsDir, seed);
    const parallel = contender === 'compose-all' ? level : CONCURRENCY;
    const settled = await limited(projects, parallel, (p) => baselineUp(c.docker, c.file, p, step));
    settled.forEach((r, i) => {
      const p = projects[i]!;
      const down = async () => { const ms = await baselineDown(c.file, p); c.made.delete(p); return ms; };
      if (r.status === 'fulfilled') up.push({ sample: r.value, down, labels: [`com.docker.compose.project=${p}`] });
      else { cell.failed.push(String((r.reason as Error).message).replace(/\s+/g, ' ').slice(-300)); void down().catch(() => undefined); }
    });
  }
  const orchestration = await window.close();
  if (poolHarness) {
    const after = (await poolHarness.ctx.admission.poolStats()).find((p) => p.template === 'shop');
    cell.pool ??= { hits: 0, misses: 0 };
    cell.pool.hits += (after?.hits ?? 0) - (poolBefore?.hits ?? 0);
    cell.pool.misses += (after?.misses ?? 0) - (poolBefore?.misses ?? 0);
  }
  for (const f of cell.failed) log(`FAILED ${contender}: ${f}`);
  for (const u of up) cell.samples.push(u.sample);
  if (up.length) cell.orchestrationCpuSeconds.push((orchestration.self + orchestration.children + orchestration.engine) / up.length);
  if (measureIdle && up.length) cell.idle = await idleCost(c.docker, up.map((u) => u.labels), IDLE_SECONDS);
  cell.teardownMs.push(...await Promise.all(up.map((u) => u.down())));
}

/** Wake from sleep: Mayfly (sleep job, then a request through the router) against `docker-compose stop` / `start`. */
async function wakeRows(c: Ctx, runs: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { mayfly: [], compose: [] };
  const h = c.harnesses.mayfly;
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['mayfly', 'compose'] : ['compose', 'mayfly'];
    for (const who of order) {
      if (who === 'mayfly' && h) {
        const name = `e2e-wake-${i}`;
        const { id, url } = await mayflyUp(h, name, 'demo', 'shop-wake');
        // Left alone, it goes to sleep by itself (no traffic for 5 s, then the reconciler).
        for (;;) {
          const events = await h.store.events(id);
          if (events.some((e) => e.type === 'slept')) break;
          await sleep(100);
        }
        const t0 = performance.now();
        await seededAnswer(url); // the router queues the wake and answers once it is up
        out.mayfly!.push(performance.now() - t0);
        await mayflyDown(h, name, id);
      } else if (who === 'compose') {
        const p = `mayflybench-${process.pid}-wake-${i}`;
        c.made.add(p);
        await baselineUp(c.docker, c.file, p, seedStep(c.seedsDir, 'demo'));
        await compose(c.file, p, ['stop']);
        const t0 = performance.now();
        await compose(c.file, p, ['start']);
        await seededAnswer(`http://127.0.0.1:${await webPort(c.docker, p)}`);
        out.compose!.push(performance.now() - t0);
        await baselineDown(c.file, p);
        c.made.delete(p);
      }
    }
  }
  return out;
}

/**
 * Copies of templates/shop: `shop` as shipped but allowing the generated seeds too, and
 * `shop-wake`, the same with `sleep: { after: 5s }` for the wake rows (the reconciler puts an
 * environment without traffic to sleep within about 10 s), so that no other row ever sleeps.
 */
async function benchTemplates(dir: string, seeds: string[], poolSize = 0): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [name, sleepAfter] of [['shop', undefined], ['shop-wake', '5s']] as const) {
    await cp(path.join(root, 'templates', 'shop'), path.join(dir, name), { recursive: true });
    const meta = path.join(dir, name, 'template.yml');
    const doc = YAML.parseDocument(await readFile(meta, 'utf8'));
    doc.setIn(['seeds', 'allowed'], [...new Set(['demo', ...seeds])]);
    if (sleepAfter) doc.set('sleep', { after: sleepAfter });
    if (poolSize && name === 'shop') doc.set('pool', { size: poolSize });
    await writeFile(meta, doc.toString());
  }
}
// ------------------------------------------------------------------------------------------- TTL

/** Environments with short, staggered leases: how late after expiresAt each is destroyed. */
/** TTL environments that did not end by their lease (failed, or destroyed for another reason). */
const ttlProblems: string[] = [];

async function ttlLateness(h: Harness, n: number): Promise<number[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    // Leases long enough for every environment to be ready first (four provision at a time).
    const put = await h.api('PUT', `/api/v1/environments/e2e-ttl-${i}`, { template: 'shop', tag: 'main', ttl: `${TTL_BASE_SECONDS + i * 2}s` });
    if (put.status !== 202) throw new Error(`PUT ttl ${i}: ${JSON.stringify(put.body)}`);
    ids.push(put.body.id);
  }
  const lateness: number[] = [];
  const deadline = Date.now() + 15 * 60_000;
  for (const id of ids) {
    for (;;) {
      const env = await h.store.getById(id);
      if (env?.status === 'destroyed' && env.destroyedAt) {
        if (env.destroyReason !== 'expired') { ttlProblems.push(`${env.name} went away as ${env.destroyReason}, not expired`); break; }
        lateness.push(env.destroyedAt.getTime() - env.expiresAt.getTime());
        break;
      }
      // Counted and reported, not a reason to lose the whole run.
      if (env?.status === 'failed') { ttlProblems.push(`${env.name} failed: ${env.failure?.message}`); log(`TTL: ${ttlProblems.at(-1)}`); break; }
      if (Date.now() > deadline) throw new Error('TTL teardowns did not happen in 15 minutes');
      await sleep(200);
    }
  }
  return lateness;
}

// ------------------------------------------------------------------------------------------- API


/** The real web process (as `npm run web` starts it), over the harness's database and queues. */
async function startWeb(h: Harness): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  // As in production: info-level JSON logs (a line per request), written to a file.
  const logFile = openSync(path.join(os.tmpdir(), `mayfly-bench-web-${process.pid}.log`), 'w');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'api', 'main.ts')], {
    env: {
      ...process.env, PORT: String(port), DATABASE_URL: h.config.databaseUrl, MAYFLY_API_TOKENS: `bench:${TOKEN}`,
      MAYFLY_QUEUE_PREFIX: h.config.queuePrefix, MAYFLY_INSTANCE: h.config.instance, LOG_LEVEL: 'info', NODE_ENV: 'production', LOG_FORMAT: 'json',
    },
    stdio: ['ignore', logFile, logFile],
  });
  closeSync(logFile);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/readyz`)).ok) return { url, child }; } catch { /* starting */ }
    await sleep(100);
  }
  child.kill('SIGTERM');
  throw new Error('the web process did not become ready');
}

interface ApiRun { name: string; mode: string; requests: number; non2xx: number; errors: number; rps: number; p50: number; p90: number; p99: number; max: number }

async function cannon(name: string, mode: string, opts: autocannon.Options): Promise<ApiRun> {
  const r = await autocannon({ ...opts, duration: API_SECONDS });
  const out = {
    name, mode, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors, rps: r.requests.average,
    p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max,
  };
  log(`api ${name} ${mode}: ${out.rps.toFixed(0)} req/s, p50 ${out.p50} ms, p99 ${out.p99} ms, non-2xx ${out.non2xx}, errors ${out.errors}`);
  return out;
}

async function apiBench(): Promise<ApiRun[]> {
  // Its own harness without a worker: 200 recorded environments stay queued, no container runs.
  const h = await startHarness({ worker: false, env: { LOG_LEVEL: 'silent' } });
  let web: { url: string; child: ChildProcess } | undefined;
  try {
    for (let i = 0; i < RECORDED; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, RECORDED - i) }, (_, j) =>
        h.api('PUT', `/api/v1/environments/api-${i + j}`, { template: 'shop', tag: 'main' }).then((r) => { if (r.status !== 202) throw new Error(JSON.stringify(r.body)); })));
    }
    web = await startWeb(h);
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const list = { url: `${web.url}/api/v1/environments`, method: 'GET' as const, headers };
    const put = { url: `${web.url}/api/v1/environments/api-0`, method: 'PUT' as const, headers, body: JSON.stringify({ template: 'shop', tag: 'main' }) };
    const check = await (await fetch(list.url, { headers })).json() as { environments: unknown[] };
    if (check.environments.length !== RECORDED) throw new Error(`expected ${RECORDED} environments, got ${check.environments.length}`);
    // Warm-up of both routes (JIT, pools, the heap's first growth), not measured: without it the
    // first seconds of the PUT rows carry its compilation and made their p99 alone.
    await autocannon({ ...list, duration: 5, connections: 10 });
    await autocannon({ ...put, duration: 5, connections: 10 });
    return [
      await cannon('GET /api/v1/environments', `${API_RATE} req/s`, { ...list, connections: 20, overallRate: API_RATE }),
      await cannon('GET /api/v1/environments', 'max', { ...list, connections: 20 }),
      await cannon('PUT /api/v1/environments/:name (unchanged)', `${API_RATE} req/s`, { ...put, connections: 20, overallRate: API_RATE }),
      await cannon('PUT /api/v1/environments/:name (unchanged)', 'max', { ...put, connections: 20 }),
    ];
  } finally {
    web?.child.kill('SIGTERM');
    await h.close();
  }
}

// ------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const resolved = {
    quick: QUICK, levels: LEVELS.join(','), seeds: SEEDS.join(','), bigSeedLevels: BIG_SEED_LEVELS.join(','), runsAtOne: RUNS_AT_ONE,
    contenders: CONTENDERS.join(','), mayflyWorkerConcurrency: CONCURRENCY, mayflyHealthTimeoutMs: SHIPPED.healthTimeoutMs,
    mayflyStartCpuBoost: SHIPPED.startCpuBoost, idleSeconds: IDLE_SECONDS, wakeRuns: WAKE_RUNS, ttlEnvs: TTL_ENVS,
    apiSeconds: API_SECONDS, apiRate: API_RATE, recorded: RECORDED,
    template: 'templates/shop as shipped, plus the generated seeds in seeds.allowed; the wake rows use a copy with sleep.after 5s',
  };
  const run = startRun(`npm run bench:e2e${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, resolved);
  if (API_ONLY) {
    const api = await apiBench();
    for (const r of api) console.log(JSON.stringify(r));
    await apiReport(api, run);
    return;
  }
  log(`${QUICK ? 'QUICK ' : ''}seeds ${SEEDS.join(',')}, levels ${LEVELS.join(',')} (large seeds ${BIG_SEED_LEVELS.join(',')}), ${RUNS_AT_ONE} runs at 1, contenders ${CONTENDERS.join(',')}, Mayfly concurrency ${CONCURRENCY}`);
  const seedsDir = path.join(stateDir, 'bench-e2e-seeds');
  const templatesDir = path.join(stateDir, 'bench-e2e-templates');
  await mkdir(seedsDir, { recursive: true });
  await cp(path.join(root, 'seed-data', 'demo'), path.join(seedsDir, 'demo'), { recursive: true });
  const big = (await bigSeeds()).filter((d) => SEEDS.includes(d.name));
  const seedBytes = await ensureDatasets(seedsDir, adminUrl, log, big.map((d) => d.name), big);
  await benchTemplates(templatesDir, SEEDS);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-e2e-'));
  const made = new Set<string>();
  const common = { MAYFLY_SEEDS_DIR: seedsDir, MAYFLY_TEMPLATES_DIR: templatesDir, LOG_LEVEL: 'silent', ...(process.env.BENCH_WORKER_CONCURRENCY ? { MAYFLY_WORKER_CONCURRENCY: String(CONCURRENCY) } : {}) };
  const harnesses: Ctx['harnesses'] = {};
  if (CONTENDERS.includes('mayfly')) harnesses.mayfly = await startHarness({ env: common });
  if (CONTENDERS.includes('mayfly-pool')) {
    await benchTemplates(`${templatesDir}-pool`, SEEDS, POOL_SIZE);
    harnesses['mayfly-pool'] = await startHarness({ env: { ...common, MAYFLY_TEMPLATES_DIR: `${templatesDir}-pool` } });
  }
  if (CONTENDERS.includes('mayfly-no-boost')) harnesses['mayfly-no-boost'] = await startHarness({ env: { ...common, MAYFLY_START_CPU_BOOST: 'off' } });
  if (CONTENDERS.includes('mayfly-recorded')) harnesses['mayfly-recorded'] = await startHarness({ env: common });
  const any = Object.values(harnesses)[0] ?? await startHarness({ worker: false, env: common });
  const c: Ctx = { harnesses, docker: any.docker, file: '', seedsDir, made };
  const cells: Cell[] = [];
  let wake: Record<string, number[]> = {};
  let lateness: number[] = [];
  try {
    c.file = await composeFile(any, dir);
    // Images pulled, goldens built, compose's Python warm: no contender pays first-run costs.
    for (const seed of SEEDS) {
      log(`warm-up (${seed}: golden build, first starts)`);
      for (const h of Object.values(harnesses)) { const w = await mayflyUp(h, `e2e-warm-${seed}`.slice(0, 40), seed); await mayflyDown(h, `e2e-warm-${seed}`.slice(0, 40), w.id); }
      const p = `mayflybench-${process.pid}-warm`;
      made.add(p);
      await baselineUp(c.docker, c.file, p, seedStep(seedsDir, seed));
      await baselineDown(c.file, p);
      made.delete(p);
    }
    if (harnesses['mayfly-recorded']) {
      const n = await recordHistory(harnesses['mayfly-recorded'].pool, `e2e-warm-${SEEDS[0]}`.slice(0, 40), HISTORY);
      log(`mayfly-recorded: ${n.environments} environments and ${n.events} timeline events recorded in its database`);
    }
    let rotation = 0;
    for (const seed of SEEDS) {
      const levels = seed === 'demo' ? LEVELS : LEVELS.filter((l) => BIG_SEED_LEVELS.includes(l));
      for (const level of levels) {
        // compose-all is compose-same while the level fits Mayfly's concurrency: one row, not two.
        const contenders = CONTENDERS.filter((x) => !(x === 'compose-all' && CONTENDERS.includes('compose-same') && level <= CONCURRENCY)) as ContenderId[];
        const row = new Map(contenders.map((x) => [x, { seed, level, contender: x, samples: [], teardownMs: [], failed: [], orchestrationCpuSeconds: [] } as Cell]));
        const batches = level === 1 ? RUNS_AT_ONE : 1;
        for (let b = 0; b < batches; b++) {
          // The order rotates at every batch of every level, so that no contender always runs on
          // a machine the one before it just warmed or loaded.
          const order = contenders.map((_, i) => contenders[(i + rotation) % contenders.length]!);
          rotation++;
          for (const who of order) await runBatch(c, row.get(who)!, b, level === 1 && b === 0 && seed === SEEDS[0]);
        }
        cells.push(...row.values());
        log(`${seed} at ${level}: ${[...row.values()].map((x) => `${x.contender} median ${s(median(x.samples.map((y) => y.readyMs)))} s p95 ${s(percentile(x.samples.map((y) => y.readyMs), 95))} s${x.failed.length ? ` (${x.failed.length} failed)` : ''}`).join('; ')}`);
      }
    }
    if (!READY_ONLY && WAKE_RUNS > 0 && harnesses.mayfly) {
      log(`wake from sleep, ${WAKE_RUNS} runs`);
      wake = await wakeRows(c, WAKE_RUNS);
      log(`wake: Mayfly median ${s(median(wake.mayfly!))} s, docker-compose start median ${s(median(wake.compose!))} s`);
    }
    if (!READY_ONLY && TTL_ENVS > 0 && harnesses.mayfly) {
      log(`TTL lateness over ${TTL_ENVS} environments (staggered leases of ${TTL_BASE_SECONDS} s + 2 s each)`);
      lateness = await ttlLateness(harnesses.mayfly, TTL_ENVS);
      log(`TTL lateness p50 ${s(percentile(lateness, 50))} s, p99 ${s(percentile(lateness, 99))} s`);
    }
  } finally {
    for (const p of made) await compose(c.file, p, ['down', '-v', '--remove-orphans']).catch((err) => log(`cleanup of ${p}: ${err.message}`));
    for (const h of new Set([...Object.values(harnesses), any])) await h.close();
    await rm(dir, { recursive: true, force: true });
  }
  if (READY_ONLY) {
    for (const x of cells) log(`${x.seed} ${x.level} ${x.contender}: ${x.samples.map((y) => s(y.readyMs)).join(' ')} | phases ${JSON.stringify(phaseMedians(x))}`);
    return;
  }
  const api = API_SECONDS > 0 ? await apiBench() : [];
  await report(finishRun(run), cells, wake, lateness, api, seedBytes);
}

// ---------------------------------------------------------------------------------------- report

const s = (ms: number) => (Number.isNaN(ms) ? '–' : (ms / 1000).toFixed(2));
const mib = (b: number) => (Number.isNaN(b) ? '–' : (b / 2 ** 20).toFixed(0));

function phaseMedians(x: Cell): Record<string, number> {
  const keys = [...new Set(x.samples.flatMap((y) => Object.keys(y.phasesMs)))];
  return Object.fromEntries(keys.map((k) => [k, Math.round(median(x.samples.map((y) => y.phasesMs[k]).filter((v): v is number => v !== undefined)))]));
}

function summarize(x: Cell) {
  const ready = x.samples.map((y) => y.readyMs);
  return {
    seed: x.seed, level: x.level, contender: x.contender, label: LABELS[x.contender], n: x.samples.length, failed: x.failed.length, failures: x.failed,
    medianMs: median(ready), p95Ms: percentile(ready, 95), teardownMedianMs: median(x.teardownMs), phasesMedianMs: phaseMedians(x),
    cost: {
      containerCpuSecondsMedian: median(x.samples.map((y) => y.cost.cpuSeconds)),
      peakMemoryBytesMedian: median(x.samples.map((y) => y.cost.peakBytes)),
      orchestrationCpuSecondsPerEnv: median(x.orchestrationCpuSeconds),
    },
    idle: x.idle ?? null,
    pool: x.pool ?? null,
  };
}

/** Mayfly's phases, in the order they happen, as its ready event names them. */
const MAYFLY_PHASES = ['put', 'queueWait', 'pull', 'clone', 'network', 'create', 'start', 'healthy', 'seed', 'publish', 'answer'];

async function report(run: RunInfo, cells: Cell[], wake: Record<string, number[]>, lateness: number[], api: ApiRun[], seedBytes: Record<string, number>): Promise<void> {
  await mkdir(OUT_DIR, { recursive: true });
  const base = QUICK ? 'e2e-quick' : 'e2e';
  const summary = cells.map(summarize);
  const at = (seed: string, level: number, who: ContenderId = 'mayfly') => summary.find((x) => x.seed === seed && x.level === level && x.contender === who);
  const ttl = { n: lateness.length, p50Ms: percentile(lateness, 50), p99Ms: percentile(lateness, 99), maxMs: lateness.length ? Math.max(...lateness) : NaN };
  const targets: { target: string; met: boolean | null; measured: string }[] = [];
  const t = (target: string, met: boolean | null, measured: string) => targets.push({ target, met, measured });
  for (const who of ['mayfly', 'mayfly-pool'] as const) {
    if (!CONTENDERS.includes(who)) continue;
    const named = who === 'mayfly' ? 'shipped defaults' : `warm pool of ${POOL_SIZE}`;
    for (const seed of SEEDS) {
      const one = at(seed, 1, who);
      t(`${named}: request to ready p50 <= 1.0 s at 1 environment, seed ${seed}`, one ? one.medianMs <= 1000 : null, one ? `${s(one.medianMs)} s` : 'not measured');
      t(`${named}: request to ready p95 <= 1.5 s at 1 environment, seed ${seed}`, one ? one.p95Ms <= 1500 : null, one ? `${s(one.p95Ms)} s` : 'not measured');
    }
    const five = at('demo', 5, who);
    t(`${named}: request to ready p50 <= 3 s at 5 at once (demo seed)`, five ? five.medianMs <= 3000 : null, five ? `${s(five.medianMs)} s` : 'not measured');
    const twenty = at('demo', 20, who);
    t(`${named}: all 20 ready at 20 at once (demo seed)`, twenty ? twenty.n === 20 && twenty.failed === 0 : null, twenty ? `${twenty.n} ready, ${twenty.failed} failed` : 'not measured');
  }
  t('wake from sleep p50 <= 1.5 s', wake.mayfly?.length ? median(wake.mayfly) <= 1500 : null, wake.mayfly?.length ? `${s(median(wake.mayfly))} s` : 'not measured');
  t('TTL teardown p99 < 5 s', lateness.length ? ttl.p99Ms < 5000 : null, lateness.length ? `${s(ttl.p99Ms)} s` : 'not measured');
  t(`API p99 < 50 ms at ${API_RATE} requests/s`, api.length ? api.filter((a) => a.mode.endsWith('req/s')).every((a) => a.p99 < 50) : null, api.length ? api.filter((a) => a.mode.endsWith('req/s')).map((a) => `${a.p99} ms`).join(', ') : 'not measured');
  await writeFile(path.join(OUT_DIR, `${base}.json`), JSON.stringify({ quick: QUICK, run, seedBytes, targets, summary, wake, ttl, ttlProblems, api, raw: cells }, null, 2) + '\n');

  const yes = (m: boolean | null) => (m === null ? 'not measured' : m ? 'met' : '**not met**');
  let md = `# End-to-end benchmark${QUICK ? ' (QUICK run: fewer levels and runs; not the reference numbers)' : ''}\n\n`;
  md += runInfoMarkdown(run) + '\n';
  md += `Template \`shop\` (Node web app + PostgreSQL 15), images present, goldens built (one unmeasured warm-up per seed and contender). Seeds: ${SEEDS.map((x) => `\`${x}\`${seedBytes[x] ? ` (${(seedBytes[x]! / 1e9).toFixed(2)} GB database)` : ' (12 products)'}`).join(', ')}.\n\n`;
  md += 'Contenders (order rotates at every batch of every level):\n\n';
  for (const id of CONTENDERS as ContenderId[]) md += `- \`${id}\`: ${LABELS[id]}\n`;
  md += '\nThe baseline keeps each container at its `cpus` limit (0.5) from the start, as compose does; `mayfly` starts them with the whole CPU and applies the limit once healthy (shipped default), `mayfly-no-boost` does as the baseline. docker-compose 1.29 has no healthcheck `start_interval`: the baseline\'s file checks every 500 ms throughout (its fast start; it pays for it in the idle rows). `compose-all` is left out where the level is within Mayfly\'s concurrency (it would be `compose-same`).\n\n';
  md += '## Request to ready\n\nFrom the request until the web service answers `/api/products` with the seeded products. Seconds.\n\n';
  md += '| seed | at once | contender | median | p95 | ready / failed | pool hits / misses |\n|---|---|---|---|---|---|---|\n';
  for (const x of summary) md += `| ${x.seed} | ${x.level} | ${x.contender} | ${s(x.medianMs)} | ${s(x.p95Ms)} | ${x.n} / ${x.failed} | ${x.pool ? `${x.pool.hits} / ${x.pool.misses}` : '–'} |\n`;
  for (const x of summary) for (const f of x.failures) md += `\n${x.contender} failed (${x.seed}, ${x.level} at once): ${f}\n`;
  md += '\n## Where the time goes\n\nMayfly: median ms per phase, from its own ready event (`put`: the API\'s answer; `queueWait` to `publish`: the worker; `start` and `create` are the Engine API calls summed over services, `healthy` the rest of the wait; `upMs`/`totalMs` wall times; `answer`: from ready seen to the first seeded answer). Baseline: `up` (`docker-compose up -d`), `seed` (psql or pg_restore), `answer`.\n\n';
  md += `| seed | at once | contender | ${MAYFLY_PHASES.join(' | ')} | up | seed (baseline) |\n|${'---|'.repeat(MAYFLY_PHASES.length + 5)}\n`;
  for (const x of summary) {
    const p = x.phasesMedianMs;
    const mayfly = x.contender.startsWith('mayfly');
    md += `| ${x.seed} | ${x.level} | ${x.contender} | ${MAYFLY_PHASES.map((k) => (mayfly ? (k === 'seed' ? (p.seed ?? '–') : (p[k] ?? '–')) : (k === 'answer' ? p.answer ?? '–' : '–'))).join(' | ')} | ${mayfly ? '–' : p.up ?? '–'} | ${mayfly ? '–' : p.seed ?? '–'} |\n`;
  }
  md += '\n## Cost per environment\n\nFrom request to ready: CPU-seconds of its containers and their peak memory (cgroup accounting, median); orchestration CPU (this process, which runs Mayfly\'s web and worker or waits for docker-compose, plus dockerd and containerd), shared over the environments of each batch. Idle: containers plus shared orchestration CPU over ' + `${IDLE_SECONDS} s at level 1, per hour, and memory in use.\n\n`;
  md += '| seed | at once | contender | container CPU-s | peak MiB | orchestration CPU-s | idle CPU-s per hour | idle MiB |\n|---|---|---|---|---|---|---|---|\n';
  for (const x of summary) md += `| ${x.seed} | ${x.level} | ${x.contender} | ${x.cost.containerCpuSecondsMedian.toFixed(2)} | ${mib(x.cost.peakMemoryBytesMedian)} | ${x.cost.orchestrationCpuSecondsPerEnv.toFixed(2)} | ${x.idle ? x.idle.cpuSecondsPerHour.toFixed(0) : '–'} | ${x.idle ? mib(x.idle.memoryBytes) : '–'} |\n`;
  md += '\n## Teardown to clean\n\nMayfly: DELETE until destroyed and no labeled container, network or volume left. Baseline: `docker-compose down -v`. Median seconds.\n\n';
  md += '| seed | at once | contender | teardown |\n|---|---|---|---|\n';
  for (const x of summary) md += `| ${x.seed} | ${x.level} | ${x.contender} | ${s(x.teardownMedianMs)} |\n`;
  if (wake.mayfly?.length) {
    md += `\n## Wake from sleep\n\nMayfly: a sleeping environment (its containers stopped by the sleep job), from the first request through the router until the seeded answer. Baseline: \`docker-compose start\` after \`stop\`, until the same answer. ${WAKE_RUNS} runs, alternating. Median ${s(median(wake.mayfly))} s (p95 ${s(percentile(wake.mayfly, 95))} s) against ${s(median(wake.compose ?? []))} s.\n`;
  }
  if (lateness.length) md += `\n## TTL lateness\n\nFrom \`expiresAt\` to destroyed, ${ttl.n} environments with staggered leases (${TTL_BASE_SECONDS} s + 2 s each). p50 ${s(ttl.p50Ms)} s, p99 ${s(ttl.p99Ms)} s, max ${s(ttl.maxMs)} s.\n`;
  for (const p of ttlProblems) md += `\nNot counted: ${p}\n`;
  if (api.length) {
    md += `\n## API\n\nautocannon, ${API_SECONDS} s per row, 20 connections, against the web process (\`api/main.ts\`) with ${RECORDED} environments recorded. Latency in ms.\n\n`;
    md += '| request | rate | req/s | p50 | p90 | p99 | max | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|\n';
    for (const a of api) md += `| \`${a.name}\` | ${a.mode} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p90} | ${a.p99} | ${a.max} | ${a.non2xx} | ${a.errors} |\n`;
  }
  md += '\n## Targets\n\n| target | measured | result |\n|---|---|---|\n';
  for (const x of targets) md += `| ${x.target} | ${x.measured} | ${yes(x.met)} |\n`;
  await writeFile(path.join(OUT_DIR, `${base}.md`), md);
  for (const seed of SEEDS) await writeFile(path.join(OUT_DIR, `${base}${seed === 'demo' ? '' : `-${seed}`}.svg`), chart(summary.filter((x) => x.seed === seed), seed));
  log(`results in ${OUT_DIR}/${base}.{json,md,svg}`);
}

/** The API rows alone (`--api-only`): bench/results/e2e-api.{json,md}. */
async function apiReport(api: ApiRun[], started: RunInfo): Promise<void> {
  const run = finishRun(started);
  await mkdir(OUT_DIR, { recursive: true });
  const met = api.filter((a) => a.mode.endsWith('req/s')).every((a) => a.p99 < 50);
  await writeFile(path.join(OUT_DIR, 'e2e-api.json'), JSON.stringify({ run, recorded: RECORDED, seconds: API_SECONDS, rate: API_RATE, p99Under50msAtRate: met, api }, null, 2) + '\n');
  let md = `# API benchmark (\`npm run bench:e2e -- --api-only\`)\n\n${runInfoMarkdown(run)}\n`;
  md += `autocannon, ${API_SECONDS} s per row after a 5 s warm-up of each route, 20 connections, against the web process (\`api/main.ts\`, production mode, info-level JSON logs to a file) with ${RECORDED} environments recorded. Latency in ms.\n\n`;
  md += '| request | rate | req/s | p50 | p90 | p99 | max | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|\n';
  for (const a of api) md += `| \`${a.name}\` | ${a.mode} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p90} | ${a.p99} | ${a.max} | ${a.non2xx} | ${a.errors} |\n`;
  md += `\nTarget: p99 under 50 ms at ${API_RATE} requests/s: ${met ? 'met' : '**not met**'}.\n`;
  await writeFile(path.join(OUT_DIR, 'e2e-api.md'), md);
  log(`results in ${OUT_DIR}/e2e-api.{json,md}`);
}

/** Grouped bars per level: median request-to-ready of each contender, with a p95 tick. */
function chart(rows: { level: number; contender: string; medianMs: number; p95Ms: number }[], seed: string): string {
  const levels = [...new Set(rows.map((r) => r.level))];
  const contenders = [...new Set(rows.map((r) => r.contender))];
  const colors: Record<string, string> = { mayfly: '#2f6f3e', 'mayfly-pool': '#1f4e8c', 'mayfly-no-boost': '#7fae6a', 'mayfly-recorded': '#6a3d9a', 'compose-same': '#c28a1a', 'compose-all': '#8c1f2f' };
  const W = 820, H = 400, left = 60, bottom = 320, top = 50;
  const max = Math.max(1, ...rows.map((r) => (Number.isNaN(r.p95Ms) ? 0 : r.p95Ms))) / 1000;
  const step = max > 60 ? 20 : max > 20 ? 5 : max > 8 ? 2 : max > 3 ? 1 : 0.5;
  const yMax = Math.ceil((max * 1.1) / step) * step;
  const y = (sec: number) => bottom - (sec / yMax) * (bottom - top);
  const groupW = (W - left - 20) / Math.max(1, levels.length);
  const barW = (groupW - 30) / Math.max(1, contenders.length);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
  svg += `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">Request to ready (s), shop template, seed ${seed}: median bar, p95 tick${QUICK ? ' — QUICK run' : ''}</text>\n`;
  for (let v = 0; v <= yMax + 1e-9; v += step) svg += `<line x1="${left}" x2="${W - 10}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toFixed(1))}</text>\n`;
  levels.forEach((level, i) => {
    const gx = left + 15 + i * groupW;
    contenders.forEach((who, j) => {
      const r = rows.find((x) => x.level === level && x.contender === who);
      if (!r || Number.isNaN(r.medianMs)) return;
      const med = r.medianMs / 1000, p95 = r.p95Ms / 1000, x = gx + j * barW;
      svg += `<rect x="${x}" y="${y(med)}" width="${barW - 4}" height="${bottom - y(med)}" fill="${colors[who] ?? '#555'}"><title>${who} ${level} at once: median ${med.toFixed(2)} s, p95 ${p95.toFixed(2)} s</title></rect>\n`;
      svg += `<line x1="${x + 2}" x2="${x + barW - 6}" y1="${y(p95)}" y2="${y(p95)}" stroke="#000" stroke-width="2"/>\n`;
      svg += `<text x="${x + (barW - 4) / 2}" y="${y(med) - 4}" text-anchor="middle" font-size="10">${med.toFixed(1)}</text>\n`;
    });
    svg += `<text x="${gx + (groupW - 30) / 2}" y="${bottom + 18}" text-anchor="middle">${level} at once</text>\n`;
  });
  contenders.forEach((who, j) => {
    svg += `<rect x="${left + j * 190}" y="${H - 30}" width="12" height="12" fill="${colors[who] ?? '#555'}"/><text x="${left + j * 190 + 16}" y="${H - 20}">${who}</text>\n`;
  });
  return svg + '</svg>\n';
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
