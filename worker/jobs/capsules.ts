import { gzipSync } from 'node:zlib';
import type { Job } from 'bullmq';
import YAML from 'yaml';
import { errorMessage } from '../../core/domain/errors.js';
import { formatBytes } from '../../core/domain/bytes.js';
import type { Environment } from '../../core/domain/environment.js';
import type { CapsuleJobData, DeleteCapsuleJobData } from '../../core/queue/jobs.js';
import type { Capsule, CapsuleEvent } from '../../core/store/capsules.js';
import type { StackSpec } from '../../core/stack/model.js';
import type { Template } from '../../core/catalog/templates.js';
import type { EnvironmentRef } from '../runtime/runtime.js';
import type { WorkerContext } from '../context.js';

/** What taking and removing bug capsules needs of the worker. */
type CapsuleDeps = Pick<WorkerContext, 'capsules' | 'catalog' | 'logger' | 'runtime' | 'seeds' | 'store'>;

/** Lines of each service's log a capsule keeps. */
export const CAPSULE_LOG_LINES = 200;
/** A plain SQL dump larger than this is not kept in the capsule's record (the archive says why). */
export const CAPSULE_DUMP_MAX_BYTES = 64 * 1024 * 1024;
/** Environment variables whose values a capsule's stack does not repeat (it goes into bug reports). */
const SECRET_NAME = /pass|secret|token|key|credential/i;

/** A password in a URL's user part (`postgres://shop:secret@db/shop`). */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi;

/** The rendered stack as YAML: values of secret-looking variables, and passwords in URLs, left out. */
export function stackText(stack: StackSpec): string {
  const services = stack.services.map((s) => ({
    ...s, environment: Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, SECRET_NAME.test(k) ? '(left out of the capsule)' : v.replace(URL_PASSWORD, '$1:(left-out)@')])),
  }));
  return YAML.stringify({ services, volumes: stack.volumes });
}

/**
 * A plain SQL dump of the database (for the archive; the capsule's restore uses its volume): run
 * in the database's container, bounded, its errors kept apart from the SQL.
 */
async function sqlDump(ctx: CapsuleDeps, ref: EnvironmentRef, template: Template): Promise<{ dump: Buffer | null; dumpError: string | null }> {
  const db = template.database!;
  const script = 'f=/tmp/mayfly-capsule-$$.sql; pg_dump --no-owner --no-privileges -U "$1" -d "$2" >"$f" 2>"$f.err" || { cat "$f.err" >&2; rm -f "$f" "$f.err"; exit 2; }; '
    + 'n=$(wc -c <"$f"); if [ "$n" -gt "$3" ]; then echo "the dump is $n bytes, over the $3 a capsule keeps" >&2; rm -f "$f" "$f.err"; exit 3; fi; cat "$f"; rm -f "$f" "$f.err"';
  try {
    const r = await ctx.runtime.exec(ref, db.service, ['sh', '-c', script, 'sh', db.user, db.name, String(CAPSULE_DUMP_MAX_BYTES)]);
    if (r.exitCode !== 0) return { dump: null, dumpError: `pg_dump in ${db.service} failed (exit ${r.exitCode}): ${r.output.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` };
    return { dump: gzipSync(Buffer.from(r.output, 'utf8')), dumpError: null };
  } catch (err) {
    return { dump: null, dumpError: `pg_dump in ${db.service} could not run (${errorMessage(err)}); restore the capsule and dump that environment instead` };
  }
}

/**
 * Takes one recorded capsule of `env`: the database copied as a checkpoint is (paused for a moment)
 * into the capsule's own volume, then the stack, timeline, last log lines and a SQL dump recorded.
 * A failure is recorded on the capsule and in the timeline; its volume goes.
 */
export async function takeCapsule(ctx: CapsuleDeps, env: Environment, capsule: Capsule): Promise<{ ok: boolean; message: string }> {
  const log = ctx.logger.child({ envId: env.id, capsule: capsule.id });
  const ref: EnvironmentRef = { id: env.id, project: env.project, generation: env.generation, ...(env.node ? { node: env.node } : {}) };
  try {
    const template = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template) : undefined;
    if (!template?.database) throw new Error(`template "${env.template}" has no database service`);
    const stack = ctx.catalog.render(env.template, { env: { id: env.id, name: env.name, project: env.project }, images: env.images });
    const taken = await ctx.seeds.capsule(env, template, stack, ref, { id: capsule.id, volume: capsule.volume }, async () => {
      const logs: Record<string, string> = {};
      for (const svc of stack.services) {
        logs[svc.name] = await ctx.runtime.logs(ref, svc.name, CAPSULE_LOG_LINES).catch((err) => `(no log: ${errorMessage(err)})`);
      }
      return { logs, ...(await sqlDump(ctx, ref, template)) };
    });
    const { logs, dump, dumpError } = taken.then;
    const timeline: CapsuleEvent[] = (await ctx.store.events(env.id)).map((e) => ({ at: e.at.toISOString(), type: e.type, status: e.status, message: e.message }));
    if (!(await ctx.capsules.markReady(capsule.id, { stack: stackText(stack), timeline, logs, dump, dumpError, sizeBytes: taken.sizeBytes, pauseMs: taken.pauseMs }))) {
      // Deleted while it was taken: its volume goes now (the delete job may have run before it existed).
      await ctx.seeds.removeCheckpointVolume(capsule.volume).catch(() => undefined);
      return { ok: false, message: `bug capsule ${capsule.id} was deleted while it was taken; its copy was removed` };
    }
    const message = `bug capsule ${capsule.id} ("${capsule.name}") taken (database paused ${taken.pauseMs} ms${taken.sizeBytes !== null ? `, ${formatBytes(taken.sizeBytes)}` : ''})`;
    await ctx.store.addEvent(env.id, 'capsule', message, { capsule: capsule.id, pauseMs: taken.pauseMs, sizeBytes: taken.sizeBytes, via: taken.via, ...(dumpError ? { dumpError } : {}) });
    log.info({ pauseMs: taken.pauseMs, sizeBytes: taken.sizeBytes, dumpError }, message);
    return { ok: true, message };
  } catch (err) {
    const message = `bug capsule ${capsule.id} of ${env.name} failed: ${errorMessage(err)}`;
    await ctx.capsules.markFailed(capsule.id, errorMessage(err)).catch(() => undefined);
    // Another run (its job delivered again while this one hung) made it ready: its copy stays.
    if ((await ctx.capsules.get(capsule.id).catch(() => undefined))?.status === 'ready') {
      log.warn({ err: errorMessage(err) }, `a stale run of bug capsule ${capsule.id} failed after another run took it; the capsule stays ready`);
      return { ok: false, message: `bug capsule ${capsule.id} was taken by another run meanwhile` };
    }
    await ctx.seeds.removeCheckpointVolume(capsule.volume).catch(() => undefined);
    await ctx.store.addEvent(env.id, 'capsule-failed', message, { capsule: capsule.id }).catch(() => undefined);
    log.warn({ err: errorMessage(err) }, message);
    return { ok: false, message };
  }
}

/** A capsule asked for through a door: taken while its environment is ready or asleep. */
export function capsuleHandler(ctx: CapsuleDeps) {
  return async (job: Job<CapsuleJobData>): Promise<string> => {
    const capsule = await ctx.capsules.get(job.data.capsuleId);
    if (!capsule || capsule.status !== 'pending') return `skipped: capsule is ${capsule?.status ?? 'gone'}`;
    const env = await ctx.store.getById(capsule.environmentId);
    if (!env || (env.status !== 'ready' && env.status !== 'sleeping')) {
      const why = `the environment is ${env?.status ?? 'gone'}; a bug capsule is taken while it is ready`;
      await ctx.capsules.markFailed(capsule.id, why);
      if (env) await ctx.store.addEvent(env.id, 'capsule-failed', `bug capsule ${capsule.id} was not taken: ${why}`, { capsule: capsule.id });
      return `skipped: ${why}`;
    }
    return (await takeCapsule(ctx, env, capsule)).message;
  };
}

/** Removes the volumes of every deleted capsule, then their records ("not found" is done). */
export function deleteCapsuleHandler(ctx: CapsuleDeps) {
  return async (_job: Job<DeleteCapsuleJobData>): Promise<string> => {
    const gone: string[] = [];
    for (const c of await ctx.capsules.deleting()) {
      await ctx.seeds.removeCheckpointVolume(c.volume);
      await ctx.capsules.forget(c.id);
      gone.push(c.id);
      ctx.logger.info({ capsule: c.id, volume: c.volume }, `removed bug capsule ${c.id} ("${c.name}", of ${c.environment}) and its volume ${c.volume}`);
    }
    return `removed ${gone.length}: ${gone.join(', ')}`;
  };
}
