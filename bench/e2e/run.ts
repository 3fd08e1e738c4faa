/**
 * End-to-end benchmark: Mayfly against the script a user would otherwise write, side by side in
 * one run, on the shop template with its images already pulled.
 *
 *   npm run bench:e2e             full: 1, 5, 10 and 20 environments at once (BENCH_RUNS=5 at 1)
 *   npm run bench:e2e -- --quick  1 and 3 at once, 2 runs at 1, shorter API runs (marked quick)
 *   npm run bench:e2e -- --api-only  only the API rows (bench/results/e2e-api.{json,md})
 *   npm run bench:e2e -- --ready-only  only request to ready (BENCH_LEVELS), printed (not written)
 *
 * Measured:
 * - request to ready: from the request until the web service answers with the seeded products.
 *   Mayfly: PUT /api/v1/environments/:name, then its URL. Baseline: `docker-compose up -d` of the
 *   same stack (the template rendered with the same images and ports), then the seed loaded with
 *   `psql` in the db container (`docker-compose exec -T db psql < seed.sql`), then the same URL check;
 * - where Mayfly's time goes: its provisioning phases (the worker's metrics);
 * - teardown to clean (Mayfly: DELETE until destroyed and no labeled object left; baseline:
 *   `docker-compose down -v`), and TTL lateness (expiresAt to destroyed);
 * - API latency and throughput with autocannon against the real web process (api/main.ts):
 *   GET /api/v1/environments with 200 environments recorded, and PUT of an existing name.
 * Writes bench/results/e2e.{json,md,svg} (e2e-quick.* with --quick).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import type Docker from 'dockerode';
import Handlebars from 'handlebars';
import YAML from 'yaml';
import { loadConfig, projectRoot } from '../../core/config/config.js';
import { yamlQuote } from '../../core/catalog/templates.js';
import { startHarness, labeledObjects, TOKEN, type Harness } from '../../test/helpers/harness.js';
import { freePort } from '../../test/helpers/private-engines.js';
import { PROVISION_PHASES } from '../../worker/metrics.js';

const run = promisify(execFile);
const root = projectRoot();
const QUICK = process.argv.includes('--quick');
/** Only the API rows (written to e2e-api.*): for working on the API's speed. */
const API_ONLY = process.argv.includes('--api-only');
/** Only request to ready, printed and not written: for working on provisioning speed. */
const READY_ONLY = process.argv.includes('--ready-only');
const LEVELS = (process.env.BENCH_LEVELS ?? (QUICK ? '1,3' : '1,5,10,20')).split(',').map(Number);
const RUNS_AT_ONE = Number(process.env.BENCH_RUNS ?? (QUICK ? 2 : 5));
const TTL_ENVS = Number(process.env.BENCH_TTL_ENVS ?? (QUICK ? 4 : 20));
/** The first TTL environment's lease; each next one's is 2 s longer. */
const TTL_BASE_SECONDS = Number(process.env.BENCH_TTL_BASE ?? (QUICK ? 40 : 150));
const API_SECONDS = Number(process.env.BENCH_API_SECONDS ?? (QUICK ? 5 : 20));
const API_RATE = Number(process.env.BENCH_API_RATE ?? 500);
const RECORDED = Number(process.env.BENCH_RECORDED ?? 200);
/** Mayfly as shipped: its default worker concurrency (MAYFLY_WORKER_CONCURRENCY) unless BENCH_WORKER_CONCURRENCY is set. */
const CONCURRENCY = process.env.BENCH_WORKER_CONCURRENCY ? Number(process.env.BENCH_WORKER_CONCURRENCY) : loadConfig({}).workerConcurrency;
const SEED_SQL = path.join(root, 'seed-data', 'demo', '01-products.sql');
const SEEDED_PRODUCTS = 12;
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Phases { [phase: string]: { sum: number; count: number } }
interface LevelResult {
  level: number;
  /** failed: environments that did not become ready (the reason), left out of the timings. */
  mayfly: { readyMs: number[]; teardownMs: number[]; phasesMs: Record<string, number>; failed: string[] };
  baseline: { readyMs: number[]; teardownMs: number[]; stepsMs: { upMs: number[]; seedMs: number[] }; failed: string[] };
}

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const median = (xs: number[]) => percentile(xs, 50);

/** Waits until the web service answers with the seeded products: the point both contenders are measured to. */
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

// ---------------------------------------------------------------------------------------- Mayfly

async function phaseTotals(h: Harness): Promise<Phases> {
  const out: Phases = {};
  const metric = h.ctx.metrics.registry.getSingleMetric('mayfly_provision_phase_seconds') as unknown as {
    get(): Promise<{ values: { labels: Record<string, string>; value: number; metricName?: string }[] }>;
  } | undefined;
  for (const v of (await metric?.get())?.values ?? []) {
    const phase = v.labels.phase!;
    out[phase] ??= { sum: 0, count: 0 };
    if (v.metricName?.endsWith('_sum')) out[phase]!.sum += v.value;
    if (v.metricName?.endsWith('_count')) out[phase]!.count += v.value;
  }
  return out;
}

async function mayflyUp(h: Harness, name: string): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', tag: 'main', ttl: '2h' });
  if (put.status !== 202) throw new Error(`PUT ${name}: ${put.status} ${JSON.stringify(put.body)}`);
  let url: string | undefined;
  while (!url) {
    const env = await h.store.getById(put.body.id);
    if (env?.status === 'failed') {
      const events = (await h.store.events(env.id)).map((e) => `  ${e.at.toISOString()} ${e.type}: ${e.message.slice(0, 400)}`).join('\n');
      throw new Error(`${name} failed: ${env.failure?.message}\n${events}`);
    }
    if (env?.status === 'ready') url = env.urls.web;
    else await sleep(50);
  }
  await seededAnswer(url);
  return { id: put.body.id, ms: performance.now() - t0 };
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

async function mayflyLevel(h: Harness, level: number, batch: number): Promise<{ readyMs: number[]; teardownMs: number[]; phases: Phases; failed: string[] }> {
  const before = await phaseTotals(h);
  const names = Array.from({ length: level }, (_, i) => `e2e-${level}-${batch}-${i}`);
  // An environment that fails (on 2 cores, 10 or 20 at once can miss their healthchecks) is
  // counted and reported, not a reason to throw the whole run away.
  const settled = await Promise.allSettled(names.map((n) => mayflyUp(h, n)));
  const after = await phaseTotals(h);
  const phases: Phases = {};
  for (const p of Object.keys(after)) phases[p] = { sum: after[p]!.sum - (before[p]?.sum ?? 0), count: after[p]!.count - (before[p]?.count ?? 0) };
  const up = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message).split('\n')[0]!] : []));
  for (const f of failed) log(`FAILED: ${f}`);
  const teardownMs = await Promise.all(names.map(async (n, i) => {
    const r = settled[i]!;
    const id = r.status === 'fulfilled' ? r.value.id : (await h.store.getByName(n))?.id;
    return id ? mayflyDown(h, n, id) : 0;
  }));
  return { readyMs: up.map((u) => u.ms), teardownMs: teardownMs.filter((_, i) => settled[i]!.status === 'fulfilled'), phases, failed };
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
    // The baseline gets the fast start.
    const hc = svc.healthcheck;
    if (hc?.start_interval) { hc.interval = hc.start_interval; delete hc.start_interval; }
  }
  const file = path.join(dir, 'docker-compose.yml');
  await writeFile(file, YAML.stringify(doc));
  return file;
}

const compose = (file: string, project: string, args: string[], input?: string) => new Promise<string>((resolve, reject) => {
  const child = spawn('docker-compose', ['-f', file, '-p', project, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.on('error', reject);
  child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`docker-compose ${args.join(' ')} (${project}) exited ${code}: ${out.slice(-800)}`))));
  child.stdin.end(input ?? '');
});

/** What a user's script does: up -d, load the seed with psql, wait for the app to show the data. */
async function baselineUp(docker: Docker, file: string, project: string, seed: string): Promise<{ ms: number; upMs: number; seedMs: number }> {
  const t0 = performance.now();
  await compose(file, project, ['up', '-d']);
  // web depends_on db being healthy, so up -d returns with the database accepting connections.
  const upMs = performance.now() - t0;
  const s0 = performance.now();
  await compose(file, project, ['exec', '-T', 'db', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop'], seed);
  const seedMs = performance.now() - s0;
  // The published port from the Docker API (milliseconds), not `docker-compose port` (a second of
  // Python start-up): a script with a fixed port would not pay it either.
  const [web] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=web'] } });
  const port = web?.Ports.find((p) => p.PrivatePort === 3000 && p.PublicPort)?.PublicPort;
  if (!port) throw new Error(`${project}: web publishes no port`);
  await seededAnswer(`http://127.0.0.1:${port}`);
  return { ms: performance.now() - t0, upMs, seedMs };
}

async function baselineDown(file: string, project: string): Promise<number> {
  const t0 = performance.now();
  await compose(file, project, ['down', '-v', '--remove-orphans']);
  return performance.now() - t0;
}

async function baselineLevel(docker: Docker, file: string, level: number, batch: number, seed: string, made: Set<string>) {
  const projects = Array.from({ length: level }, (_, i) => `mayflybench-${process.pid}-${level}-${batch}-${i}`);
  projects.forEach((p) => made.add(p));
  // A project that fails (a healthcheck given up on a loaded host) is counted, like Mayfly's.
  const settled = await Promise.allSettled(projects.map((p) => baselineUp(docker, file, p, seed)));
  const up = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message).replace(/\s+/g, ' ').slice(-300)] : []));
  for (const f of failed) log(`BASELINE FAILED: ${f}`);
  const teardownMs = await Promise.all(projects.map(async (p) => { const ms = await baselineDown(file, p); made.delete(p); return ms; }));
  return { readyMs: up.map((u) => u.ms), upMs: up.map((u) => u.upMs), seedMs: up.map((u) => u.seedMs), teardownMs: teardownMs.filter((_, i) => settled[i]!.status === 'fulfilled'), failed };
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
  if (API_ONLY) {
    const api = await apiBench();
    for (const r of api) console.log(JSON.stringify(r));
    await apiReport(api);
    return;
  }
  log(`${QUICK ? 'QUICK ' : ''}levels ${LEVELS.join(',')}, ${RUNS_AT_ONE} runs at 1, worker concurrency ${CONCURRENCY}`);
  const seed = await readFile(SEED_SQL, 'utf8');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-e2e-'));
  const made = new Set<string>();
  const h = await startHarness({ env: {
    MAYFLY_WORKER_CONCURRENCY: String(CONCURRENCY), MAYFLY_RECONCILE_INTERVAL: '5s', MAYFLY_HEALTH_TIMEOUT: '10m', LOG_LEVEL: 'silent',
  } });
  let file = '';
  const levels: LevelResult[] = [];
  let lateness: number[] = [];
  let api: ApiRun[] = [];
  try {
    file = await composeFile(h, dir);
    // Images pulled, golden built, compose's Python warm: neither contender pays first-run costs.
    log('warm-up');
    const warm = await mayflyUp(h, 'e2e-warm');
    await mayflyDown(h, 'e2e-warm', warm.id);
    await baselineLevel(h.docker, file, 1, 0, seed, made);

    for (const level of LEVELS) {
      const batches = level === 1 ? RUNS_AT_ONE : 1;
      const result: LevelResult = { level, mayfly: { readyMs: [], teardownMs: [], phasesMs: {}, failed: [] }, baseline: { readyMs: [], teardownMs: [], stepsMs: { upMs: [], seedMs: [] }, failed: [] } };
      const phases: Phases = {};
      for (let b = 0; b < batches; b++) {
        // Alternate who goes first, so neither always runs on a machine the other just warmed or loaded.
        const order = b % 2 === 0 ? ['mayfly', 'baseline'] : ['baseline', 'mayfly'];
        for (const who of order) {
          if (who === 'mayfly') {
            const m = await mayflyLevel(h, level, b);
            result.mayfly.readyMs.push(...m.readyMs);
            result.mayfly.teardownMs.push(...m.teardownMs);
            result.mayfly.failed.push(...m.failed);
            for (const [p, v] of Object.entries(m.phases)) { phases[p] ??= { sum: 0, count: 0 }; phases[p]!.sum += v.sum; phases[p]!.count += v.count; }
          } else {
            const c = await baselineLevel(h.docker, file, level, b + 1, seed, made);
            result.baseline.readyMs.push(...c.readyMs);
            result.baseline.teardownMs.push(...c.teardownMs);
            result.baseline.stepsMs.upMs.push(...c.upMs);
            result.baseline.stepsMs.seedMs.push(...c.seedMs);
            result.baseline.failed.push(...c.failed);
          }
        }
      }
      for (const p of PROVISION_PHASES) if (phases[p]?.count) result.mayfly.phasesMs[p] = (phases[p]!.sum / phases[p]!.count) * 1000;
      levels.push(result);
      log(`${level} at once: Mayfly median ${(median(result.mayfly.readyMs) / 1000).toFixed(2)} s, p95 ${(percentile(result.mayfly.readyMs, 95) / 1000).toFixed(2)} s; `
        + `docker-compose median ${(median(result.baseline.readyMs) / 1000).toFixed(2)} s, p95 ${(percentile(result.baseline.readyMs, 95) / 1000).toFixed(2)} s`);
    }

    if (!READY_ONLY) {
      log(`TTL lateness over ${TTL_ENVS} environments (staggered leases of ${TTL_BASE_SECONDS} s + 2 s each)`);
      lateness = await ttlLateness(h, TTL_ENVS);
      log(`TTL lateness p50 ${(percentile(lateness, 50) / 1000).toFixed(2)} s, p99 ${(percentile(lateness, 99) / 1000).toFixed(2)} s`);
    }
  } finally {
    for (const p of made) await compose(file, p, ['down', '-v', '--remove-orphans']).catch((err) => log(`cleanup of ${p}: ${err.message}`));
    await h.close();
    await rm(dir, { recursive: true, force: true });
  }
  if (READY_ONLY) {
    for (const l of levels) log(`${l.level}: Mayfly ${l.mayfly.readyMs.map((ms) => (ms / 1000).toFixed(2)).join(' ')} | baseline ${l.baseline.readyMs.map((ms) => (ms / 1000).toFixed(2)).join(' ')} | phases ${JSON.stringify(l.mayfly.phasesMs, (_, v) => (typeof v === 'number' ? Math.round(v) : v))}`);
    return;
  }
  api = await apiBench();
  await report(levels, lateness, api);
}

// ---------------------------------------------------------------------------------------- report

async function machine(): Promise<Record<string, string>> {
  const sh = async (cmd: string, args: string[]) => { try { return (await run(cmd, args)).stdout.trim(); } catch { return '?'; } };
  return {
    cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    load: os.loadavg().map((l) => l.toFixed(1)).join(' '),
    kernel: os.release(),
    node: process.version,
    docker: await sh('docker', ['version', '-f', '{{.Server.Version}}']),
    dockerCompose: (await sh('docker-compose', ['version', '--short'])) || '?',
    date: new Date().toISOString(),
  };
}

const s = (ms: number) => (Number.isNaN(ms) ? '–' : (ms / 1000).toFixed(2));

async function report(levels: LevelResult[], lateness: number[], api: ApiRun[]): Promise<void> {
  const m = await machine();
  const outDir = path.join(root, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  const base = QUICK ? 'e2e-quick' : 'e2e';
  const summary = levels.map((l) => ({
    level: l.level,
    mayfly: { n: l.mayfly.readyMs.length, failed: l.mayfly.failed.length, failures: l.mayfly.failed, medianMs: median(l.mayfly.readyMs), p95Ms: percentile(l.mayfly.readyMs, 95), teardownMedianMs: median(l.mayfly.teardownMs), phasesMeanMs: l.mayfly.phasesMs },
    baseline: { n: l.baseline.readyMs.length, failed: l.baseline.failed.length, failures: l.baseline.failed, medianMs: median(l.baseline.readyMs), p95Ms: percentile(l.baseline.readyMs, 95), teardownMedianMs: median(l.baseline.teardownMs), upMedianMs: median(l.baseline.stepsMs.upMs), seedMedianMs: median(l.baseline.stepsMs.seedMs) },
    speedup: median(l.baseline.readyMs) / median(l.mayfly.readyMs),
  }));
  const ttl = { n: lateness.length, p50Ms: percentile(lateness, 50), p99Ms: percentile(lateness, 99), maxMs: Math.max(...lateness) };
  const targets = {
    atLeast2xAtOne: (summary.find((x) => x.level === 1)?.speedup ?? 0) >= 2,
    fasterAtEveryLevel: summary.every((x) => x.speedup > 1),
    ttlP99Under5s: ttl.p99Ms < 5000,
    apiP99Under50msAt500: api.filter((a) => a.mode.endsWith('req/s')).every((a) => a.p99 < 50),
  };
  await writeFile(path.join(outDir, `${base}.json`), JSON.stringify({ quick: QUICK, machine: m, workerConcurrency: CONCURRENCY, targets, summary, ttl, ttlProblems, api, raw: { levels, lateness } }, null, 2) + '\n');

  const yes = (b: boolean) => (b ? 'met' : '**not met**');
  let md = `# End-to-end benchmark${QUICK ? ' (QUICK run: fewer levels and runs; not the reference numbers)' : ''}\n\n`;
  md += `Generated by \`npm run bench:e2e${QUICK ? ' -- --quick' : ''}\` on ${m.date}.\n\n`;
  md += `Machine: ${m.cpu}, ${m.memory}, Linux ${m.kernel}, Docker ${m.docker}, docker-compose ${m.dockerCompose}, Node ${m.node}; load average at the end ${m.load}.\n`;
  md += `Mayfly: web app and worker in one process, as shipped (worker concurrency ${CONCURRENCY}: more environments requested at once wait in its queue; reconciler every 5 s). Template \`shop\` (Node web app + PostgreSQL 15, demo seed of ${SEEDED_PRODUCTS} products), images already pulled.\n`;
  md += 'Healthchecks: the template checks every 500 ms while a service starts (`start_interval`) and every 10 s after. docker-compose 1.29 has no `start_interval`, so the baseline\'s file checks every 500 ms throughout (the fast start; the alternative is waiting 10 s per dependency). Mayfly runs the check itself while it waits (Docker 20.10 does not honour `start_interval`).\n\n';
  md += '## Request to ready\n\nUntil the web service answers `/api/products` with the seeded products. Baseline: `docker-compose up -d` of the same stack, then `docker-compose exec -T db psql < seed.sql`. Seconds.\n\n';
  md += '| at once | Mayfly median | Mayfly p95 | docker-compose + psql median | docker-compose + psql p95 | speed-up (median) | samples |\n|---|---|---|---|---|---|---|\n';
  for (const x of summary) md += `| ${x.level} | ${s(x.mayfly.medianMs)} | ${s(x.mayfly.p95Ms)} | ${s(x.baseline.medianMs)} | ${s(x.baseline.p95Ms)} | ${x.speedup.toFixed(2)}x | ${x.mayfly.n} / ${x.baseline.n}${x.mayfly.failed ? ` (Mayfly: ${x.mayfly.failed} failed, left out)` : ''}${x.baseline.failed ? ` (baseline: ${x.baseline.failed} failed, left out)` : ''} |\n`;
  for (const x of summary) for (const f of x.mayfly.failures) md += `\nMayfly failed at ${x.level} at once: ${f}\n`;
  for (const x of summary) for (const f of x.baseline.failures) md += `\nBaseline failed at ${x.level} at once: ${f}\n`;
  md += '\n## Where the time goes\n\nMayfly: mean seconds per provisioning phase (worker metrics `mayfly_provision_phase_seconds`). Baseline: `up -d` and the `psql` load, medians.\n\n';
  md += `| at once | ${PROVISION_PHASES.join(' | ')} | compose up -d | psql load |\n|${'---|'.repeat(PROVISION_PHASES.length + 3)}\n`;
  for (const x of summary) md += `| ${x.level} | ${PROVISION_PHASES.map((p) => s(x.mayfly.phasesMeanMs[p] ?? NaN)).join(' | ')} | ${s(x.baseline.upMedianMs)} | ${s(x.baseline.seedMedianMs)} |\n`;
  md += '\n## Teardown to clean\n\nMayfly: DELETE until destroyed and no labeled container, network or volume left. Baseline: `docker-compose down -v`. Median seconds.\n\n';
  md += '| at once | Mayfly | docker-compose down -v |\n|---|---|---|\n';
  for (const x of summary) md += `| ${x.level} | ${s(x.mayfly.teardownMedianMs)} | ${s(x.baseline.teardownMedianMs)} |\n`;
  md += `\n## TTL lateness\n\nFrom \`expiresAt\` to destroyed, ${ttl.n} environments with staggered leases (${TTL_BASE_SECONDS} s + 2 s each). p50 ${s(ttl.p50Ms)} s, p99 ${s(ttl.p99Ms)} s, max ${s(ttl.maxMs)} s (target p99 < 5 s: ${yes(targets.ttlP99Under5s)}).\n`;
  for (const p of ttlProblems) md += `\nNot counted: ${p}\n`;
  md += `\n## API\n\nautocannon, ${API_SECONDS} s per row, 20 connections, against the web process (\`api/main.ts\`) with ${RECORDED} environments recorded. Latency in ms.\n\n`;
  md += '| request | rate | req/s | p50 | p90 | p99 | max | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|\n';
  for (const a of api) md += `| \`${a.name}\` | ${a.mode} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p90} | ${a.p99} | ${a.max} | ${a.non2xx} | ${a.errors} |\n`;
  md += `\n## Targets\n\n| target | result |\n|---|---|\n`;
  md += `| Mayfly at least 2x faster to ready than the baseline at 1 environment | ${yes(targets.atLeast2xAtOne)} |\n`;
  md += `| Mayfly faster at every concurrency | ${yes(targets.fasterAtEveryLevel)} |\n`;
  md += `| TTL teardown p99 under 5 s | ${yes(targets.ttlP99Under5s)} |\n`;
  md += `| API p99 under 50 ms at ${API_RATE} requests/s | ${yes(targets.apiP99Under50msAt500)} |\n`;
  await writeFile(path.join(outDir, `${base}.md`), md);
  await writeFile(path.join(outDir, `${base}.svg`), chart(summary));
  log(`results in ${outDir}/${base}.{json,md,svg}`);
}

/** The API rows alone (`--api-only`): bench/results/e2e-api.{json,md}. */
async function apiReport(api: ApiRun[]): Promise<void> {
  const m = await machine();
  const outDir = path.join(root, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  const met = api.filter((a) => a.mode.endsWith('req/s')).every((a) => a.p99 < 50);
  await writeFile(path.join(outDir, 'e2e-api.json'), JSON.stringify({ machine: m, recorded: RECORDED, seconds: API_SECONDS, rate: API_RATE, p99Under50msAtRate: met, api }, null, 2) + '\n');
  let md = `# API benchmark (\`npm run bench:e2e -- --api-only\`)\n\nGenerated on ${m.date}. Machine: ${m.cpu}, ${m.memory}, Node ${m.node}; load average at the end ${m.load}.\n\n`;
  md += `autocannon, ${API_SECONDS} s per row after a 5 s warm-up of each route, 20 connections, against the web process (\`api/main.ts\`, production mode, info-level JSON logs to a file) with ${RECORDED} environments recorded. Latency in ms.\n\n`;
  md += '| request | rate | req/s | p50 | p90 | p99 | max | non-2xx | errors |\n|---|---|---|---|---|---|---|---|---|\n';
  for (const a of api) md += `| \`${a.name}\` | ${a.mode} | ${a.rps.toFixed(0)} | ${a.p50} | ${a.p90} | ${a.p99} | ${a.max} | ${a.non2xx} | ${a.errors} |\n`;
  md += `\nTarget: p99 under 50 ms at ${API_RATE} requests/s: ${met ? 'met' : '**not met**'}.\n`;
  await writeFile(path.join(outDir, 'e2e-api.md'), md);
  log(`results in ${outDir}/e2e-api.{json,md}`);
}

/** Grouped bars per concurrency level: median request-to-ready, Mayfly and the baseline, with a p95 tick. */
function chart(rows: { level: number; mayfly: { medianMs: number; p95Ms: number }; baseline: { medianMs: number; p95Ms: number } }[]): string {
  const W = 760, H = 380, left = 60, bottom = 310, top = 50;
  const max = Math.max(1, ...rows.flatMap((r) => [r.mayfly.p95Ms, r.baseline.p95Ms])) / 1000;
  const step = max > 60 ? 20 : max > 20 ? 5 : max > 8 ? 2 : 1;
  const yMax = Math.ceil((max * 1.1) / step) * step;
  const y = (sec: number) => bottom - (sec / yMax) * (bottom - top);
  const groupW = (W - left - 20) / rows.length;
  const barW = (groupW - 30) / 2;
  const colors = { mayfly: '#2f6f3e', baseline: '#8c1f2f' };
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
  svg += `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">Request to ready (s), shop template: median bar, p95 tick${QUICK ? ' — QUICK run' : ''}</text>\n`;
  for (let t = 0; t <= yMax; t += step) svg += `<line x1="${left}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>\n`;
  rows.forEach((r, i) => {
    const gx = left + 15 + i * groupW;
    (['mayfly', 'baseline'] as const).forEach((who, j) => {
      const med = r[who].medianMs / 1000, p95 = r[who].p95Ms / 1000, x = gx + j * barW;
      svg += `<rect x="${x}" y="${y(med)}" width="${barW - 4}" height="${bottom - y(med)}" fill="${colors[who]}"><title>${who} ${r.level} at once: median ${med.toFixed(2)} s, p95 ${p95.toFixed(2)} s</title></rect>\n`;
      svg += `<line x1="${x + 4}" x2="${x + barW - 8}" y1="${y(p95)}" y2="${y(p95)}" stroke="#000" stroke-width="2"/>\n`;
      svg += `<text x="${x + (barW - 4) / 2}" y="${y(med) - 4}" text-anchor="middle" font-size="10">${med.toFixed(1)}</text>\n`;
    });
    svg += `<text x="${gx + barW}" y="${bottom + 18}" text-anchor="middle">${r.level} at once</text>\n`;
  });
  svg += `<rect x="${left}" y="${H - 30}" width="12" height="12" fill="${colors.mayfly}"/><text x="${left + 16}" y="${H - 20}">Mayfly</text>\n`;
  svg += `<rect x="${left + 100}" y="${H - 30}" width="12" height="12" fill="${colors.baseline}"/><text x="${left + 116}" y="${H - 20}">docker-compose up -d + psql seed</text>\n`;
  return svg + '</svg>\n';
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
