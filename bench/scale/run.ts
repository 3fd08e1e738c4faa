/**
 * Scale on paper, from measurements (docs/scale.md): what 5,000 recorded environments cost
 * Mayfly's own parts on this machine.
 *
 * - A reconciler pass over N ready environments (PostgreSQL and Redis real; the container engine
 *   is the FakeRuntime holding each environment's two running containers, so the pass measures
 *   Mayfly's side: its queries, one Redis lookup per lease, one template render per environment).
 *   The first pass schedules the expiry jobs Redis does not hold (as after a Redis loss); later ones only check.
 * - API list latency with N rows: GET /api/v1/environments (every live one) and a filtered list,
 *   through the web app in-process (test/helpers/harness.ts, its real PostgreSQL).
 *
 * Knobs: BENCH_ENVIRONMENTS (5000), BENCH_PASSES (4), BENCH_REQUESTS (10). Results:
 * bench/results/scale.{json,md} with the commit, the knobs and the load average.
 */
import { execFileSync } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { containerName, volumeName } from '../../core/domain/names.js';
import { projectRoot } from '../../core/config/config.js';
import { reconcile } from '../../worker/jobs/reconcile.js';
import { startFakeWorker } from '../../test/helpers/fake-worker.js';
import { AUTH, startHarness } from '../../test/helpers/harness.js';

const N = Number(process.env.BENCH_ENVIRONMENTS ?? 5000);
const PASSES = Number(process.env.BENCH_PASSES ?? 4);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10);

/** Copies one recorded environment N times as ready ones (new id, name, project), straight in SQL. */
async function cloneRows(pool: pg.Pool, seedName: string, n: number): Promise<{ id: string; project: string }[]> {
  const { rows: cols } = await pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_name = 'environments' ORDER BY ordinal_position`);
  const set: Record<string, string> = {
    id: 'gen_random_uuid()', name: `'scale-' || g`, project: `'scale' || g`, status: `'ready'`, ready_at: `now() - interval '1 minute'`,
    updated_at: `now() - interval '1 minute'`, seeded_at: 'now()', holds_capacity: 'true', admitted_at: 'now()', expires_at: `now() + interval '4 hours'`,
  };
  const names = cols.map((c) => c.column_name);
  const values = names.map((c) => set[c] ?? `e.${c}`);
  const { rows } = await pool.query<{ id: string; project: string }>(
    `INSERT INTO environments (${names.join(', ')}) SELECT ${values.join(', ')} FROM environments e, generate_series(1, $1) g WHERE e.name = $2 RETURNING id, project`,
    [n, seedName]);
  return rows;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t: bigint) => Number(t) / 1e6;

async function reconcilerPasses(): Promise<{ passMs: number[]; report: unknown }> {
  const w = await startFakeWorker();
  try {
    const seed = await w.create('scale-seed');
    await w.provision(seed);
    const made = await cloneRows(w.pool, 'scale-seed', N);
    for (const e of made) {
      for (const service of ['db', 'web']) {
        w.fake.containers.set(containerName(e.project, service), {
          id: `c-${e.project}-${service}`, envId: e.id, service, generation: 1, state: 'running', ports: {}, mounts: service === 'db' ? [volumeName(e.project, 'dbdata')] : [],
        });
      }
      w.fake.volumes.set(volumeName(e.project, 'dbdata'), { name: volumeName(e.project, 'dbdata'), envId: e.id, data: true });
    }
    const passMs: number[] = [];
    let report: unknown;
    for (let i = 0; i < PASSES; i++) {
      const t = process.hrtime.bigint();
      report = await reconcile(w.ctx);
      passMs.push(Math.round(ms(process.hrtime.bigint() - t)));
      console.log(`reconciler pass ${i + 1} over ${N + 1} ready environments: ${passMs.at(-1)} ms`);
    }
    // The expiry jobs the first pass scheduled: gone with the queue prefix.
    await w.ctx.queues.lifecycle.obliterate({ force: true }).catch(() => undefined);
    return { passMs, report };
  } finally {
    await w.close();
  }
}

async function apiLatency(): Promise<Record<string, { medianMs: number; samplesMs: number[]; bytes: number; count: number }>> {
  const h = await startHarness();
  try {
    const created = await h.api('PUT', '/api/v1/environments/scale-seed', { template: 'shop', ttl: '1h' });
    if (created.status !== 202) throw new Error(`seed environment: ${created.status} ${JSON.stringify(created.body)}`);
    // Recorded as ready, never deployed: the list reads PostgreSQL only.
    await cloneRows(h.pool, 'scale-seed', N);
    const out: Record<string, { medianMs: number; samplesMs: number[]; bytes: number; count: number }> = {};
    for (const [label, url] of [['list all live', '/api/v1/environments'], ['list one owner (filtered)', '/api/v1/environments?owner=nobody']] as const) {
      const samplesMs: number[] = [];
      let bytes = 0, count = 0;
      for (let i = 0; i < REQUESTS; i++) {
        const t = process.hrtime.bigint();
        const res = await fetch(`${h.baseUrl}${url}`, { headers: AUTH });
        const text = await res.text();
        samplesMs.push(Math.round(ms(process.hrtime.bigint() - t)));
        bytes = text.length;
        count = (JSON.parse(text) as { environments?: unknown[] }).environments?.length ?? 0;
      }
      out[label] = { medianMs: median(samplesMs), samplesMs, bytes, count };
      console.log(`${label}: median ${out[label]!.medianMs} ms, ${count} environments, ${bytes} bytes`);
    }
    await h.pool.query(`DELETE FROM environments WHERE name LIKE 'scale-%' AND name <> 'scale-seed'`);
    await h.api('DELETE', '/api/v1/environments/scale-seed?wait=120');
    return out;
  } finally {
    await h.close();
  }
}

const startedLoad = loadavg();
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot() }).toString().trim();
const reconciler = await reconcilerPasses();
const api = await apiLatency();
const result = {
  at: new Date().toISOString(), commit, knobs: { environments: N, passes: PASSES, requests: REQUESTS },
  machine: { cpus: cpus().length, loadAverageAtStart: startedLoad.map((x) => Number(x.toFixed(2))), loadAverageAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
  reconciler, api,
};
const dir = path.join(projectRoot(), 'bench', 'results');
writeFileSync(path.join(dir, 'scale.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(path.join(dir, 'scale.md'), [
  `# Scale measurements (${result.at}, commit ${commit})`, '',
  `${N} recorded environments; ${result.machine.cpus} cores; load average ${result.machine.loadAverageAtStart.join(' / ')} at start, ${result.machine.loadAverageAtEnd.join(' / ')} at end (the machine is shared).`, '',
  '| measurement | value |', '|---|---|',
  `| reconciler pass, first (schedules the lost expiry jobs of the environments it reads; see docs/scale.md) | ${reconciler.passMs[0]} ms |`,
  `| reconciler pass, steady (median of ${PASSES - 1}) | ${median(reconciler.passMs.slice(1))} ms |`,
  ...Object.entries(api).map(([k, v]) => `| API ${k} (median of ${REQUESTS}; ${v.count} items, ${Math.round(v.bytes / 1024)} KiB) | ${v.medianMs} ms |`),
  '',
].join('\n'));
console.log(JSON.stringify(result));
process.exit(0);
