/**
 * Seed snapshot benchmark: every clone strategy side by side in one run (reflink, overlay, copy,
 * and restore as the baseline), on generated datasets of about 10 MB, 100 MB and 1 GB and one of
 * many small tables; one environment at a time (RUNS times) and five at once.
 *
 *   npm run bench:seeds            (BENCH_RUNS=3, BENCH_DATASETS=bench-10mb,..., BENCH_STRATEGIES=...)
 *
 * Measured per environment: request to first successful query, first query on the largest table,
 * disk used (df of the volume file system, not du), a fixed write workload, teardown time.
 * Writes bench/results/seeds.{json,md,svg} (BENCH_OUT_DIR: another folder).
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, labeledObjects, type Harness } from '../../test/helpers/harness.js';
import { DATASETS, ensureDatasets } from './datasets.js';
import { finishRun, runInfoMarkdown, startRun } from '../lib/run-info.js';

const root = projectRoot();
const stateDir = process.env.MAYFLY_STATE_DIR ?? '/var/lib/mayfly';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 5);
const STRATEGIES = (process.env.BENCH_STRATEGIES ?? 'reflink,overlay,copy,restore').split(',');
const NAMES = (process.env.BENCH_DATASETS ?? DATASETS.map((d) => d.name).join(',')).split(',');
const VOLUMES_FS = process.env.BENCH_VOLUMES_DIR ?? '/var/lib/docker/volumes';
/** Where result files go: bench/results, or another folder for a run of some datasets only (BENCH_OUT_DIR). */
const OUT_DIR = process.env.BENCH_OUT_DIR ? path.resolve(process.env.BENCH_OUT_DIR) : path.join(projectRoot(), 'bench', 'results');
const adminUrl = process.env.DATABASE_URL ?? 'postgres://mayfly:mayfly@127.0.0.1:5432/mayfly';
const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

interface Sample { requestToQueryMs: number; largestQueryMs: number; diskBytes: number | null; diskAfterWorkloadBytes: number | null; writeMs: number; teardownMs: number }
interface Cell { strategy: string; dataset: string; mode: 'single' | 'parallel'; samples: Sample[]; goldenBuildMs: number | null }

async function usedBytes(): Promise<number> {
  const s = await statfs(VOLUMES_FS);
  return (s.blocks - s.bfree) * s.bsize;
}

/**
 * Used space once the file system has settled: XFS frees the blocks of removed files in the
 * background, so a reading right after a teardown still counts some of them.
 */
async function settledUsedBytes(): Promise<number> {
  execFileSync('sync');
  let last = await usedBytes();
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await usedBytes();
    if (Math.abs(now - last) < 256 * 1024) return now;
    last = now;
  }
  return last;
}

async function sql(h: Harness, envId: string, query: string): Promise<number> {
  const env = (await h.store.getById(envId))!;
  const started = performance.now();
  const r = await h.runtime.exec({ id: env.id, project: env.project, generation: env.generation }, 'db',
    ['psql', '-X', '-qAt', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop', '-c', query]);
  if (r.exitCode !== 0) throw new Error(`query failed in ${env.name}: ${r.output}`);
  return performance.now() - started;
}

/** The read-and-write workload after the first query (bench-many has only small tables and `items`). */
const WORKLOAD = (largest: string) => `
  SELECT count(*) FROM ${largest} WHERE id % 97 = 0;
  SELECT * FROM ${largest} ORDER BY id DESC LIMIT 100;
  CREATE TABLE bench_w AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g;
  UPDATE ${largest} SET id = id WHERE id % 50 = 0;
  DELETE FROM ${largest} WHERE id % 200 = 1;
  INSERT INTO bench_w SELECT g, md5(g::text) FROM generate_series(100001, 150000) g;
  CHECKPOINT`;

/** Puts an environment up and measures it; returns after it is destroyed. */
async function measure(h: Harness, name: string, dataset: string, largest: string, measureDisk: boolean): Promise<Sample> {
  const before = measureDisk ? await settledUsedBytes() : 0;
  const t0 = performance.now();
  const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'bench', seed: dataset, ttl: '2h' });
  if (put.status !== 202) throw new Error(`PUT ${name}: ${JSON.stringify(put.body)}`);
  for (;;) {
    const env = await h.store.getById(put.body.id);
    if (env?.status === 'ready') break;
    if (env?.status === 'failed') throw new Error(`${name} failed: ${env.failure?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await sql(h, put.body.id, 'SELECT 1');
  const requestToQueryMs = performance.now() - t0;
  // Measured after the first query, before the largest-table query and the writes.
  const diskBytes = measureDisk ? (await settledUsedBytes()) - before : null;
  const largestQueryMs = await sql(h, put.body.id, `SELECT count(*) FROM ${largest}`);
  // A tester's session, not SELECT 1: reads across the tables and their indexes, then writes
  // spread over the largest table (each touched page's file is copied up whole under overlay, so
  // disk per environment depends on what is written where, not only how much), inserts, deletes.
  const writeMs = await sql(h, put.body.id, WORKLOAD(largest));
  const diskAfterWorkloadBytes = measureDisk ? (await settledUsedBytes()) - before : null;
  const t1 = performance.now();
  await h.api('DELETE', `/api/v1/environments/${name}?wait=300`);
  const left = await labeledObjects(h.docker, put.body.id);
  if (left.containers + left.networks + left.volumes) throw new Error(`${name} left objects behind: ${JSON.stringify(left)}`);
  return { requestToQueryMs, largestQueryMs, diskBytes, diskAfterWorkloadBytes, writeMs, teardownMs: performance.now() - t1 };
}

async function benchTemplates(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await cp(path.join(root, 'templates', 'shop'), path.join(dir, 'bench'), { recursive: true });
  const meta = path.join(dir, 'bench', 'template.yml');
  const text = (await readFile(meta, 'utf8'))
    .replace(/seeds:\n  default: demo\n  allowed: \[demo\]/, `seeds:\n  default: ${DATASETS[0]!.name}\n  allowed: [${DATASETS.map((d) => d.name).join(', ')}]`);
  await writeFile(meta, text);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = Math.floor(s.length / 2); return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };

const run = startRun('npm run bench:seeds', { runs: RUNS, parallel: PARALLEL, strategies: STRATEGIES.join(','), datasets: NAMES.join(','), mayflyHealthTimeout: 'shipped default' });

async function main(): Promise<void> {
  const seedsDir = path.join(stateDir, 'bench-seeds');
  const templatesDir = path.join(stateDir, 'bench-templates');
  const sizes = await ensureDatasets(seedsDir, adminUrl, log, NAMES);
  await benchTemplates(templatesDir);
  const cells: Cell[] = [];
  for (const strategy of STRATEGIES) {
    const h = await startHarness({ env: {
      MAYFLY_CLONE_STRATEGY: strategy, MAYFLY_SEEDS_DIR: seedsDir, MAYFLY_TEMPLATES_DIR: templatesDir,
      MAYFLY_WORKER_CONCURRENCY: String(PARALLEL),
    } });
    try {
      for (const dataset of NAMES) {
        const largest = 'items';
        let goldenBuildMs: number | null = null;
        if (strategy !== 'restore') {
          // The golden is built ahead of time (POST /seeds/:name/refresh), as a team would.
          await h.api('POST', `/api/v1/seeds/${dataset}/refresh`);
          for (;;) {
            const { rows } = await h.pool.query(`SELECT status, build_ms, error FROM seed_snapshots WHERE dataset = $1 AND status IN ('ready','failed') ORDER BY created_at DESC LIMIT 1`, [dataset]);
            if (rows[0]?.status === 'ready') { goldenBuildMs = rows[0].build_ms; break; }
            if (rows[0]?.status === 'failed') throw new Error(`golden of ${dataset} failed: ${rows[0].error}`);
            await new Promise((r) => setTimeout(r, 500));
          }
          log(`${strategy} ${dataset}: golden built in ${goldenBuildMs} ms`);
        }
        const single: Sample[] = [];
        for (let i = 0; i < RUNS; i++) single.push(await measure(h, `b-${strategy}-${dataset}-${i}`.slice(0, 63), dataset, largest, true));
        cells.push({ strategy, dataset, mode: 'single', samples: single, goldenBuildMs });
        log(`${strategy} ${dataset} single: request->query median ${median(single.map((s) => s.requestToQueryMs)).toFixed(0)} ms`);
        const par = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => measure(h, `p-${strategy}-${dataset}-${i}`.slice(0, 63), dataset, largest, false)));
        cells.push({ strategy, dataset, mode: 'parallel', samples: par, goldenBuildMs });
        log(`${strategy} ${dataset} x${PARALLEL}: request->query median ${median(par.map((s) => s.requestToQueryMs)).toFixed(0)} ms`);
      }
    } finally {
      await h.close();
    }
  }
  await report(cells, sizes);
}

function machine(): Record<string, string> {
  const sh = (cmd: string, args: string[]) => { try { return execFileSync(cmd, args, { encoding: 'utf8' }).trim(); } catch { return '?'; } };
  return {
    cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    kernel: os.release(),
    node: process.version,
    docker: sh('docker', ['version', '-f', '{{.Server.Version}}']),
    volumesFs: sh('df', ['-T', VOLUMES_FS]).split('\n').pop() ?? '?',
    date: new Date().toISOString(),
  };
}

async function report(cells: Cell[], sizes: Record<string, number>): Promise<void> {
  const stats = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
  const rows = cells.map((c) => ({
    strategy: c.strategy, dataset: c.dataset, mode: c.mode, n: c.samples.length, goldenBuildMs: c.goldenBuildMs,
    requestToQueryMs: stats(c.samples.map((s) => s.requestToQueryMs)),
    largestQueryMs: stats(c.samples.map((s) => s.largestQueryMs)),
    writeMs: stats(c.samples.map((s) => s.writeMs)),
    teardownMs: stats(c.samples.map((s) => s.teardownMs)),
    diskBytes: c.samples[0]?.diskBytes === null ? null : stats(c.samples.map((s) => s.diskBytes!)),
    diskAfterWorkloadBytes: c.samples[0]?.diskAfterWorkloadBytes == null ? null : stats(c.samples.map((s) => s.diskAfterWorkloadBytes!)),
  }));
  const outDir = OUT_DIR;
  await mkdir(outDir, { recursive: true });
  const m = machine();
  const info = finishRun(run);
  await writeFile(path.join(outDir, 'seeds.json'), JSON.stringify({ run: info, machine: m, datasetBytes: sizes, runs: RUNS, parallel: PARALLEL, rows, raw: cells }, null, 2) + '\n');

  const fmt = (s: { median: number; min: number; max: number }) => `${(s.median / 1000).toFixed(2)} (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})`;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)}`;
  let md = `# Seed snapshot benchmark\n\nGenerated by \`npm run bench:seeds\` on ${m.date}.\n\n`;
  md += runInfoMarkdown(info);
  md += `Docker volumes file system (\`df -T\`): \`${m.volumesFs}\`.\n\n`;
  md += `Datasets (database size after load): ${Object.entries(sizes).map(([k, v]) => `${k} ${mb(v)} MB`).join(', ')}.\n\n`;
  md += `Times in seconds, median (min–max) over ${RUNS} single runs, or over the ${PARALLEL} environments started at once. `;
  md += `Disk is the growth of the volume file system's used space (df) from before the request: after the first query, and after a read-and-write workload (reads over the largest table, 2% of its rows updated and 0.5% deleted across it, 150,000 rows inserted, CHECKPOINT), in MB.\n\n`;
  md += '| strategy | dataset | mode | request → first query | first query on largest table | workload | teardown | disk per env after first query (MB) | after workload (MB) | golden build |\n|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of rows) {
    md += `| ${r.strategy} | ${r.dataset} | ${r.mode === 'single' ? '1' : `${PARALLEL} at once`} | ${fmt(r.requestToQueryMs)} | ${fmt(r.largestQueryMs)} | ${fmt(r.writeMs)} | ${fmt(r.teardownMs)} | ${r.diskBytes ? mb(r.diskBytes.median) : '–'} | ${r.diskAfterWorkloadBytes ? mb(r.diskAfterWorkloadBytes.median) : '–'} | ${r.goldenBuildMs === null ? '–' : `${(r.goldenBuildMs / 1000).toFixed(1)} s`} |\n`;
  }
  await writeFile(path.join(outDir, 'seeds.md'), md);
  await writeFile(path.join(outDir, 'seeds.svg'), chart(rows.filter((r) => r.mode === 'single')));
  log(`results in ${outDir}/seeds.{json,md,svg}`);
}

/** Grouped bars: request-to-first-query median per dataset, one bar per strategy (log scale). */
function chart(rows: { strategy: string; dataset: string; requestToQueryMs: { median: number } }[]): string {
  const datasets = [...new Set(rows.map((r) => r.dataset))];
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  const colors: Record<string, string> = { reflink: '#2f6f3e', overlay: '#1f4e8c', copy: '#c28a1a', restore: '#8c1f2f' };
  const W = 760, H = 360, left = 60, bottom = 300, top = 40;
  const max = Math.max(...rows.map((r) => r.requestToQueryMs.median)) / 1000;
  const logMax = Math.log10(Math.max(10, max * 1.2));
  const y = (s: number) => bottom - ((Math.log10(Math.max(0.1, s)) + 1) / (logMax + 1)) * (bottom - top);
  const groupW = (W - left - 20) / datasets.length;
  const barW = (groupW - 20) / strategies.length;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
  svg += `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Request to first query (s, log scale), one environment, median</text>\n`;
  for (const t of [0.1, 1, 10, 100, 1000].filter((t) => Math.log10(t) <= logMax)) {
    svg += `<line x1="${left}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>\n`;
  }
  datasets.forEach((d, i) => {
    const gx = left + 10 + i * groupW;
    strategies.forEach((s, j) => {
      const r = rows.find((x) => x.dataset === d && x.strategy === s);
      if (!r) return;
      const v = r.requestToQueryMs.median / 1000;
      svg += `<rect x="${gx + j * barW}" y="${y(v)}" width="${barW - 2}" height="${bottom - y(v)}" fill="${colors[s] ?? '#555'}"><title>${s} ${d}: ${v.toFixed(2)} s</title></rect>\n`;
    });
    svg += `<text x="${gx + (groupW - 20) / 2}" y="${bottom + 18}" text-anchor="middle">${d}</text>\n`;
  });
  strategies.forEach((s, j) => {
    svg += `<rect x="${left + j * 110}" y="${H - 30}" width="12" height="12" fill="${colors[s] ?? '#555'}"/><text x="${left + j * 110 + 16}" y="${H - 20}">${s}</text>\n`;
  });
  return svg + '</svg>\n';
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
