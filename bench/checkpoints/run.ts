/**
 * Checkpoint pause benchmark (issue 17, item 3): how long an environment's database is paused
 * while a checkpoint copies it, and how long a checkpoint takes from request to ready, per clone
 * strategy and dataset. The pause is what the tester notices (queries wait); the target is under
 * 1 s at 1 GB.
 *
 *   node --import tsx bench/checkpoints/run.ts
 *   BENCH_RUNS=5 BENCH_DATASETS=demo,bench-1gb BENCH_STRATEGIES=reflink,copy node --import tsx bench/checkpoints/run.ts
 *
 * `demo` is seed-data/demo (the shop template's default); bench-* are the generated datasets of
 * bench/seeds (made with the host's PostgreSQL and cached in $MAYFLY_STATE_DIR/bench-seeds).
 * Writes bench/results/checkpoints.{json,md} with the commit, the knobs and the load average.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, type Harness } from '../../test/helpers/harness.js';
import { DATASETS, ensureDatasets } from '../seeds/datasets.js';

const root = projectRoot();
const stateDir = process.env.MAYFLY_STATE_DIR ?? '/var/lib/mayfly';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const STRATEGIES = (process.env.BENCH_STRATEGIES ?? 'reflink,copy').split(',');
const NAMES = (process.env.BENCH_DATASETS ?? 'demo').split(',');
const adminUrl = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

interface Sample { pauseMs: number; requestToReadyMs: number; sizeBytes: number | null }
/** A fork (issue 17, item 2: target under 3 s): request to the fork ready, and the parent's pause. */
interface ForkSample { requestToReadyMs: number; parentPauseMs: number | null }
interface Row { strategy: string; dataset: string; samples: Sample[]; forks: ForkSample[] }

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = Math.floor(s.length / 2); return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const sh = (cmd: string, args: string[]) => { try { return execFileSync(cmd, args, { encoding: 'utf8' }).trim(); } catch { return '?'; } };

/** The shop template as `bench`, accepting demo and the generated datasets. */
async function benchTemplates(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await cp(path.join(root, 'templates', 'shop'), path.join(dir, 'bench'), { recursive: true });
  const meta = path.join(dir, 'bench', 'template.yml');
  const text = (await readFile(meta, 'utf8'))
    .replace(/seeds:\n  default: demo\n  allowed: \[demo\]/, `seeds:\n  default: demo\n  allowed: [demo, ${DATASETS.map((d) => d.name).join(', ')}]`);
  await writeFile(meta, text);
}

async function measure(h: Harness, name: string): Promise<Sample> {
  const started = performance.now();
  const res = await h.api('POST', `/api/v1/environments/${name}/checkpoints`, {});
  if (res.status !== 202) throw new Error(`checkpoint of ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  for (;;) {
    const { rows } = await h.pool.query('SELECT status, pause_ms, size_bytes, error FROM checkpoints WHERE id = $1', [res.body.id]);
    if (rows[0]?.status === 'ready') return { pauseMs: rows[0].pause_ms, requestToReadyMs: performance.now() - started, sizeBytes: rows[0].size_bytes === null ? null : Number(rows[0].size_bytes) };
    if (rows[0]?.status === 'failed') throw new Error(`checkpoint of ${name} failed: ${rows[0].error}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fork(h: Harness, parent: string, i: number): Promise<ForkSample> {
  const started = performance.now();
  const res = await h.api('POST', `/api/v1/environments/${parent}/forks?wait=300`, { for: `f${i}` });
  if (res.body.status !== 'ready') throw new Error(`fork of ${parent}: ${res.status} ${JSON.stringify(res.body.failure ?? res.body)}`);
  const requestToReadyMs = performance.now() - started;
  const { rows } = await h.pool.query(`SELECT data FROM environment_events WHERE environment_id = $1 AND type = 'cloned' ORDER BY id DESC LIMIT 1`, [res.body.id]);
  const del = await h.api('DELETE', `/api/v1/environments/${res.body.name}?wait=120`);
  if (del.status >= 300) throw new Error(`destroying fork ${res.body.name}: ${del.status} ${JSON.stringify(del.body)}`);
  return { requestToReadyMs, parentPauseMs: rows[0]?.data?.pauseMs ?? null };
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const seedsDir = path.join(stateDir, 'bench-seeds');
  const generated = NAMES.filter((n) => n !== 'demo');
  if (generated.length) await ensureDatasets(seedsDir, adminUrl, log, generated);
  const templatesDir = path.join(stateDir, 'bench-templates-checkpoints');
  await benchTemplates(templatesDir);
  // demo lives in seed-data/: linked beside the generated ones.
  await mkdir(seedsDir, { recursive: true });
  await cp(path.join(root, 'seed-data', 'demo'), path.join(seedsDir, 'demo'), { recursive: true });
  const rows: Row[] = [];
  for (const strategy of STRATEGIES) {
    const h = await startHarness({ env: {
      MAYFLY_CLONE_STRATEGY: strategy, MAYFLY_SEEDS_DIR: seedsDir, MAYFLY_TEMPLATES_DIR: templatesDir,
      MAYFLY_HEALTH_TIMEOUT: '10m', MAYFLY_CHECKPOINTS_PER_ENV: '3',
    } });
    try {
      for (const dataset of NAMES) {
        const name = `bench-cp-${strategy}-${dataset}`.slice(0, 60);
        const put = await h.api('PUT', `/api/v1/environments/${name}?wait=600`, { template: 'bench', seed: dataset, ttl: '2h' });
        if (put.body.status !== 'ready') throw new Error(`${name}: ${JSON.stringify(put.body.failure ?? put.body)}`);
        await measure(h, name); // warm-up (helper image, page cache), not counted
        const samples: Sample[] = [];
        for (let i = 0; i < RUNS; i++) samples.push(await measure(h, name));
        await fork(h, name, 0); // warm-up, not counted
        const forks: ForkSample[] = [];
        for (let i = 1; i <= RUNS; i++) forks.push(await fork(h, name, i));
        rows.push({ strategy, dataset, samples, forks });
        log(`${strategy} ${dataset}: pause median ${median(samples.map((s) => s.pauseMs))} ms, request to ready ${Math.round(median(samples.map((s) => s.requestToReadyMs)))} ms; `
          + `fork request to ready ${Math.round(median(forks.map((f) => f.requestToReadyMs)))} ms`);
        await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
      }
    } finally {
      await h.close();
    }
  }
  const loadAfter = os.loadavg();
  const meta = {
    at: new Date().toISOString(),
    commit: sh('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
    knobs: { BENCH_RUNS: RUNS, BENCH_STRATEGIES: STRATEGIES, BENCH_DATASETS: NAMES, MAYFLY_LOCAL_VOLUMES: process.env.MAYFLY_LOCAL_VOLUMES ?? 'on (default)' },
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`,
    volumesFs: sh('df', ['-T', '/var/lib/docker/volumes']).split('\n').pop(),
    loadAverage: { before: loadBefore.map((x) => +x.toFixed(2)), after: loadAfter.map((x) => +x.toFixed(2)) },
  };
  const outDir = path.join(root, 'bench', 'results');
  await writeFile(path.join(outDir, 'checkpoints.json'), JSON.stringify({ ...meta, rows }, null, 2) + '\n');
  const fmt = (xs: number[]) => `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
  const md = [
    '# Checkpoint pause benchmark', '',
    `Generated by \`node --import tsx bench/checkpoints/run.ts\` on ${meta.at} at commit ${meta.commit}.`, '',
    `Knobs: ${Object.entries(meta.knobs).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(', ')}.`,
    `Machine: ${meta.machine}. Volumes: \`${meta.volumesFs}\`.`,
    `Load average (1, 5, 15 min) before: ${meta.loadAverage.before.join(', ')}; after: ${meta.loadAverage.after.join(', ')} (a shared machine: other work ran meanwhile).`, '',
    'Milliseconds, median (min–max) over the runs, after one warm-up. **Pause**: the database container paused (docker pause → copy → unpause);',
    '**request → ready**: from `POST .../checkpoints` until the checkpoint is ready (queue, copy, waiting until the database answers its healthcheck again, measuring the copy\'s size).',
    '**fork**: from `POST .../forks?wait=300` until the fork `<name>--fN` answers ready (a new environment: the parent paused and copied, the fork\'s containers started and healthy); **parent pause** as its timeline records it. Target (issue 17): a fork in under 3 s; a pause under 1 s at 1 GB.', '',
    '| strategy | dataset | size | pause | request → ready | fork request → ready | fork: parent pause |', '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.strategy} | ${r.dataset} | ${r.samples[0]?.sizeBytes ? `${(r.samples[0].sizeBytes / 2 ** 20).toFixed(1)} MB` : '?'} | ${fmt(r.samples.map((s) => s.pauseMs))} | ${fmt(r.samples.map((s) => s.requestToReadyMs))} | ${fmt(r.forks.map((f) => f.requestToReadyMs))} | ${r.forks.every((f) => f.parentPauseMs !== null) ? fmt(r.forks.map((f) => f.parentPauseMs!)) : '?'} |`),
    '',
  ].join('\n');
  await writeFile(path.join(outDir, 'checkpoints.md'), md);
  console.log(md);
}

main().catch((err) => { console.error(err); process.exit(1); });
