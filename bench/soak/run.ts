/**
 * Soak: N create/destroy cycles of the tiny template against the real engines (Mayfly's web app
 * and worker in-process, as the integration tests run them, with their own database, queue prefix
 * and instance label), a few at a time under an admission limit. It checks, and writes to
 * bench/results/soak.{json,md}:
 *  - drift between PostgreSQL and Docker labels at the end (must be zero: no object of this
 *    instance without a live environment, no live environment left);
 *  - Redis memory stays bounded: key count and MEMORY USAGE of the keys under the soak's own
 *    queue prefix, before, every few cycles, and after (completed and failed jobs are removed).
 *    The shared Redis's global INFO used_memory is recorded too, for reference only (other
 *    processes use it).
 *
 *   npm run soak                       300 cycles, 3 at a time
 *   npm run soak -- --quick            30 cycles (CI)
 *   npm run soak -- --cycles 500 --parallel 4
 *
 * Exits 1 when there is drift, a cycle failed, or the prefix's Redis keys grew past the bound.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { projectRoot } from '../../core/config/config.js';
import { startHarness, type Harness } from '../../test/helpers/harness.js';
import { TINY_TEMPLATES_DIR } from '../../test/helpers/tiny.js';
import { finishRun, runInfoMarkdown, startRun } from '../lib/run-info.js';

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string' },
    parallel: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const CYCLES = Number(args.cycles ?? (args.quick ? 30 : 300));
const PARALLEL = Number(args.parallel);
const OUT = args.out ?? path.join(projectRoot(), 'bench', 'results', args.quick ? 'soak-quick' : 'soak');
const run = startRun(`npm run soak${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, { cycles: CYCLES, parallel: PARALLEL });
/** Keys under the soak's prefix may not exceed this at any checkpoint: work in flight only, no history. */
const KEY_BOUND = 60;
/** ...and their MEMORY USAGE may not exceed this (the event streams are capped at 1,000 entries per queue). */
const BYTES_BOUND = 4 * 1024 ** 2;
const log = (m: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

interface RedisSample { cycle: number; at: string; keys: number; prefixBytes: number; usedMemory: number; byKind: Record<string, number> }

async function redisSample(redis: Redis, prefix: string, cycle: number): Promise<RedisSample> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  let prefixBytes = 0;
  const byKind: Record<string, number> = {};
  for (const k of keys) {
    prefixBytes += Number(await redis.call('MEMORY', 'USAGE', k) ?? 0);
    // prefix:queue:<id or kind>: group job hashes together
    const part = k.split(':')[2] ?? '';
    const kind = /^(provision|teardown|expire|repeat|save|refresh)-/.test(part) || /^\d+$/.test(part) ? 'job' : part;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  const info = await redis.info('memory');
  const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  return { cycle, at: new Date().toISOString(), keys: keys.length, prefixBytes, usedMemory, byKind };
}

async function drift(h: Harness) {
  const filters = { label: [`mayfly.instance=${h.config.instance}`] };
  const [containers, networks, volumes] = await Promise.all([
    h.docker.listContainers({ all: true, filters }), h.docker.listNetworks({ filters }), h.docker.listVolumes({ filters }),
  ]);
  const labeled = new Set([
    ...containers.map((c) => c.Labels['mayfly.env']), ...networks.map((n) => n.Labels?.['mayfly.env']), ...(volumes.Volumes ?? []).map((v) => v.Labels?.['mayfly.env']),
  ].filter((x): x is string => !!x));
  const { rows } = await h.pool.query<{ id: string; status: string }>(`SELECT id, status FROM environments WHERE status <> 'destroyed'`);
  const live = new Set(rows.map((r) => r.id));
  return {
    containers: containers.length, networks: networks.length, volumes: (volumes.Volumes ?? []).length,
    /** Docker objects whose environment PostgreSQL does not call live. */
    objectsWithoutLiveEnvironment: [...labeled].filter((id) => !live.has(id)).length,
    /** Live rows at the end (every cycle destroys its environment). */
    liveRows: rows.length,
  };
}

async function main(): Promise<void> {
  log(`${CYCLES} cycles, ${PARALLEL} at a time (admission limit ${PARALLEL})`);
  const h = await startHarness({
    env: { MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, MAYFLY_MAX_ENVIRONMENTS: String(PARALLEL), MAYFLY_WORKER_CONCURRENCY: String(PARALLEL + 1), LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
  });
  const redis = new Redis(h.config.redisUrl);
  const prefix = h.config.queuePrefix;
  const started = Date.now();
  const samples: RedisSample[] = [await redisSample(redis, prefix, 0)];
  const cycleMs: number[] = [];
  const failures: string[] = [];
  let done = 0;
  let next = 0;
  const every = Math.max(10, Math.floor(CYCLES / 20));
  try {
    const lane = async () => {
      while (next < CYCLES) {
        const i = next++;
        const name = `soak-${i}-${Math.random().toString(16).slice(2, 6)}`;
        const t0 = Date.now();
        try {
          const up = await h.api('PUT', `/api/v1/environments/${name}?wait=300`, { template: 'tiny' });
          if (up.body?.status !== 'ready') throw new Error(`not ready: ${up.status} ${JSON.stringify(up.body?.failure ?? up.body?.error ?? up.body?.status)}`);
          const down = await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
          if (down.body?.status !== 'destroyed') throw new Error(`not destroyed: ${down.status} ${down.body?.status}`);
          cycleMs.push(Date.now() - t0);
        } catch (err) {
          failures.push(`${name}: ${(err as Error).message}`);
          await h.api('DELETE', `/api/v1/environments/${name}?wait=120`).catch(() => undefined);
        }
        done++;
        if (done % every === 0) {
          samples.push(await redisSample(redis, prefix, done));
          const s = samples.at(-1)!;
          log(`${done}/${CYCLES} cycles; ${failures.length} failed; prefix keys ${s.keys} (${(s.prefixBytes / 1024).toFixed(0)} KiB)`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, lane));
    // Let the last removals and the reconciler settle, then measure.
    await new Promise((r) => setTimeout(r, 5000));
    samples.push(await redisSample(redis, prefix, done));
    const d = await drift(h);
    const totalMs = Date.now() - started;
    const sorted = [...cycleMs].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
    const maxKeys = Math.max(...samples.map((s) => s.keys));
    const maxBytes = Math.max(...samples.map((s) => s.prefixBytes));
    const result = {
      date: new Date().toISOString(), host: { cpus: os.cpus().length, memGiB: +(os.totalmem() / 1024 ** 3).toFixed(1) },
      cycles: CYCLES, parallel: PARALLEL, completed: cycleMs.length, failed: failures.length, failures: failures.slice(0, 20),
      totalSeconds: +(totalMs / 1000).toFixed(1),
      cycleMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: sorted.at(-1) ?? 0 },
      drift: d,
      redis: { keyBound: KEY_BOUND, maxKeys, bytesBound: BYTES_BOUND, maxBytes, before: samples[0], after: samples.at(-1), samples },
    };
    const ok = d.objectsWithoutLiveEnvironment === 0 && d.liveRows === 0 && d.containers + d.networks + d.volumes === 0 && failures.length === 0 && maxKeys <= KEY_BOUND && maxBytes <= BYTES_BOUND;
    await mkdir(path.dirname(OUT), { recursive: true });
    const info = finishRun(run);
    await writeFile(`${OUT}.json`, JSON.stringify({ ok, run: info, ...result }, null, 2) + '\n');
    await writeFile(`${OUT}.md`, markdown(ok, result).replace('\n\n', `\n\n${runInfoMarkdown(info)}\n`));
    log(`${ok ? 'OK' : 'FAILED'}: ${cycleMs.length}/${CYCLES} cycles in ${result.totalSeconds} s; drift ${JSON.stringify(d)}; prefix keys before ${samples[0]!.keys}, max ${maxKeys}, after ${samples.at(-1)!.keys}; wrote ${OUT}.{json,md}`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    redis.disconnect();
    await h.close();
  }
}

function markdown(ok: boolean, r: any): string {
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const rows = r.redis.samples.map((s: RedisSample) => `| ${s.cycle} | ${s.keys} | ${kib(s.prefixBytes)} | ${(s.usedMemory / 1024 ** 2).toFixed(1)} MiB | ${Object.entries(s.byKind).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  return `# Soak: create/destroy cycles\n\n` +
    `${r.date} · ${r.host.cpus} CPUs, ${r.host.memGiB} GiB · \`npm run soak${r.cycles === 300 ? '' : ` -- --cycles ${r.cycles}`}\` · result: **${ok ? 'OK' : 'FAILED'}**\n\n` +
    `- ${r.completed} of ${r.cycles} cycles completed (${r.failed} failed), ${r.parallel} at a time under an admission limit of ${r.parallel}, in ${r.totalSeconds} s.\n` +
    `- One cycle (PUT and wait for ready, DELETE and wait for destroyed), tiny template: p50 ${r.cycleMs.p50} ms, p90 ${r.cycleMs.p90} ms, p99 ${r.cycleMs.p99} ms, max ${r.cycleMs.max} ms.\n` +
    `- Drift at the end between PostgreSQL and Docker labels: ${r.drift.objectsWithoutLiveEnvironment} objects without a live environment, ${r.drift.liveRows} live rows, ` +
    `${r.drift.containers} containers, ${r.drift.networks} networks, ${r.drift.volumes} volumes of this instance.\n` +
    `- Redis keys under the soak's queue prefix: ${r.redis.before.keys} before, at most ${r.redis.maxKeys} during (bound ${r.redis.keyBound}), ${r.redis.after.keys} after; their MEMORY USAGE at most ${kib(r.redis.maxBytes)} (bound ${kib(r.redis.bytesBound)}). ` +
    `Completed and failed jobs are removed (removeOnComplete / removeOnFail), a destroyed environment's delayed expiry job is removed with it; what stays is the queues' metadata, the job schedulers and the event streams (capped at 1,000 entries per queue).\n\n` +
    `| after cycle | keys | MEMORY USAGE of the prefix's keys | INFO used_memory (whole shared Redis, for reference) | keys by kind |\n|---|---|---|---|---|\n${rows.join('\n')}\n` +
    (r.failures.length ? `\nFailures (first 20):\n\n${r.failures.map((f: string) => `- ${f}`).join('\n')}\n` : '');
}

main().catch((err) => {
  console.error(`soak failed: ${err instanceof Error ? err.stack : err}`);
  process.exit(1);
});
