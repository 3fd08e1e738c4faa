import { createHash } from 'node:crypto';
import type { Config } from '../../core/config/config.js';
import type { Environment } from '../../core/domain/environment.js';
import { PermanentFailure } from '../../core/domain/errors.js';
import type { Logger } from '../../core/platform/log.js';
import { CLONE_STRATEGIES, type CloneStrategy, type DatasetCatalog } from '../../core/catalog/datasets.js';
import type { StackSpec } from '../../core/stack/model.js';
import { FACT_CLONE, type Snapshot, type SnapshotStore } from '../../core/store/snapshots.js';
import type { Template } from '../../core/catalog/templates.js';
import type { EnvironmentRef } from '../runtime/runtime.js';
import type { CloneVia, DatabaseSpec, ProbeResult, SnapshotEngine } from './engine.js';
import { loadFiles } from './load-seed.js';
import { applyMask } from './mask.js';
import { mayReplaceDatabase } from '../jobs/fence.js';


export interface StrategyFact {
  chosen: CloneStrategy;
  configured: string;
  /** What this installation should clone by: the configured strategy, or reflink under auto. */
  expected: CloneStrategy;
  /** chosen is not expected: clones work, but cost more disk and time. Warned, metered, in /readyz. */
  downgraded: boolean;
  /** Why expected is not chosen (empty when not downgraded). */
  reason: string;
  available: Record<CloneStrategy, boolean>;
  notes: Record<string, string>;
  /** Strategies whose probe failed by an error rather than an answer. */
  unsure: string[];
  probedAt: string;
}

/** Probed again after this long when the last probe was unsure or downgraded (the host may be fixed). */
export const REPROBE_MIN_MS = 30_000;
export const REPROBE_MAX_MS = 10 * 60_000;

/** What prepare() did: cloned from a golden, or left the data for loadSeed after start. */
export type Prepared = { kind: 'none' } | { kind: 'restore' }
  | { kind: 'cloned'; strategy: CloneStrategy; via: CloneVia; key: string; ms: number; builtGolden: boolean; from?: 'checkpoint' | 'capsule' | 'fork'; pauseMs?: number };

/**
 * Where prepare() takes the database from instead of the seed: a checkpoint's volume (a rewind),
 * a bug capsule's volume (a new environment restored from it), or the parent environment's live
 * database (a fork's first provisioning).
 */
export type DataSource = { kind: 'checkpoint'; id: string; volume: string } | { kind: 'capsule'; id: string; volume: string } | { kind: 'fork'; parent: EnvironmentRef; parentName: string; snapshotKey: string | null };

/**
 * Seed data as snapshots: one golden data directory per (dataset content, database image digest,
 * settings) key, built once; each environment's database volume is a clone of it by the first
 * strategy that works on the host (reflink, overlay, copy), or restored from the dump (restore).
 */
export class SeedService {
  private strategyPromise?: Promise<StrategyFact>;

  constructor(
    private readonly config: Config,
    private readonly datasets: DatasetCatalog,
    private readonly snapshots: SnapshotStore,
    private readonly engine: SnapshotEngine,
    private readonly logger: Logger,
    /** Told every strategy decision (the worker's metrics). */
    private readonly onFact: (fact: StrategyFact) => void = () => undefined,
  ) {}

  /** Named by the engine (per installation: two instances on one engine never share or rebuild one). */
  private goldenVolume(key: string): string {
    return this.engine.goldenVolume(key);
  }

  /**
   * Probes the host, picks the strategy, and records the choice for the API and /readyz to show.
   * The answer is kept; it is probed again (with a backoff from 30 s to 10 min) while a probe was
   * unsure or the choice is a downgrade, so a transient failure never sticks.
   */
  strategy(): Promise<StrategyFact> {
    if (this.strategyPromise && this.reprobeAt !== undefined && Date.now() >= this.reprobeAt) {
      const previous = this.strategyPromise;
      this.reprobeAt = undefined; // one probe at a time
      this.strategyPromise = this.probeStrategy().catch(() => { this.scheduleReprobe(true); return previous; });
    }
    this.strategyPromise ??= this.probeStrategy().catch((err) => { this.strategyPromise = undefined; throw err; });
    return this.strategyPromise;
  }

  private async probeStrategy(): Promise<StrategyFact> {
    const configured = this.config.cloneStrategy;
    const probe: ProbeResult = await this.engine.probe();
    const available: Record<CloneStrategy, boolean> = { reflink: probe.reflink, overlay: probe.overlay, copy: probe.copy, restore: true };
    const expected: CloneStrategy = configured === 'auto' ? 'reflink' : configured;
    let chosen: CloneStrategy;
    if (configured === 'auto') chosen = CLONE_STRATEGIES.find((s) => available[s])!;
    else if (!available[configured]) {
      this.scheduleReprobe(true);
      throw new PermanentFailure('CLONE_STRATEGY_UNAVAILABLE', `MAYFLY_CLONE_STRATEGY=${configured} does not work on this Docker host: ${probe.notes[configured] ?? 'probe failed'}. ` +
        'Fix the host (docs/operations/reflink.md) or set MAYFLY_CLONE_STRATEGY=auto; retry the environment afterwards.');
    } else chosen = configured;
    const downgraded = chosen !== expected;
    const reason = downgraded ? (probe.notes[expected] ?? `${expected} is not available`) : '';
    const fact: StrategyFact = { chosen, configured, expected, downgraded, reason, available, notes: probe.notes, unsure: probe.unsure, probedAt: new Date().toISOString() };
    await this.snapshots.setFact(FACT_CLONE, fact);
    this.onFact(fact);
    this.scheduleReprobe(downgraded || probe.unsure.length > 0);
    if (downgraded) {
      this.logger.warn(fact, `seed clones use ${chosen}, not ${expected}: ${reason}. Environments still work; each clone costs more disk and time. ` +
        'To get reflink on this host see docs/operations/reflink.md (bash scripts/docker-data-to-xfs.sh)');
    } else this.logger.info(fact, `seed clone strategy: ${chosen}`);
    return fact;
  }

  private reprobeAt?: number;
  private reprobeDelay = REPROBE_MIN_MS;
  private scheduleReprobe(needed: boolean): void {
    if (!needed) { this.reprobeAt = undefined; this.reprobeDelay = REPROBE_MIN_MS; return; }
    this.reprobeAt = Date.now() + this.reprobeDelay;
    this.reprobeDelay = Math.min(this.reprobeDelay * 2, REPROBE_MAX_MS);
  }

  /** The database service of a rendered stack, as the golden builder needs it. */
  static databaseSpec(template: Template, stack: StackSpec): { spec: DatabaseSpec; volume: string } {
    const db = template.database;
    if (!db) throw new PermanentFailure('SEED_UNSUPPORTED', `template "${template.name}" has no database service to seed`);
    const svc = stack.services.find((s) => s.name === db.service);
    if (!svc) throw new PermanentFailure('INVALID_TEMPLATE', `template "${template.name}": database service "${db.service}" is not in the stack`);
    const mount = (db.volume ? svc.volumes.find((v) => v.source === db.volume) : svc.volumes[0]);
    if (!mount) throw new PermanentFailure('INVALID_TEMPLATE', `template "${template.name}": database service "${db.service}" has no named volume for its data`);
    return {
      spec: { image: svc.image, environment: svc.environment, dataTarget: mount.target, ...(svc.healthcheck ? { healthcheck: svc.healthcheck } : {}), user: db.user, name: db.name },
      volume: mount.source,
    };
  }

  static goldenKey(contentHash: string, imageDigest: string, spec: DatabaseSpec): string {
    const settings = JSON.stringify({ env: Object.entries(spec.environment).sort(), target: spec.dataTarget, user: spec.user, name: spec.name });
    return createHash('sha256').update(`${contentHash}\n${imageDigest}\n${settings}`).digest('hex').slice(0, 32);
  }

  /**
   * The golden snapshot for a dataset and database, built once: concurrent callers for one key
   * wait on a PostgreSQL advisory lock, then find it ready.
   */
  async ensureGolden(dataset: string, template: Template, spec: DatabaseSpec, imageDigest: string): Promise<{ snapshot: Snapshot; built: boolean }> {
    const saved = await this.snapshots.savedDataset(dataset);
    if (saved) {
      if (saved.template !== template.name) throw new PermanentFailure('SEED_UNSUPPORTED', `saved dataset "${dataset}" was taken from template "${saved.template}", not "${template.name}"`);
      if (!(await this.engine.volumeExists(saved.volume))) throw new PermanentFailure('SNAPSHOT_MISSING', `the volume of saved dataset "${dataset}" (${saved.volume}) is gone`);
      return { snapshot: saved, built: false };
    }
    const contentHash = await this.datasets.contentHash(dataset);
    const key = SeedService.goldenKey(contentHash, imageDigest, spec);
    const ready = async () => {
      const s = await this.snapshots.get(key);
      return s?.status === 'ready' && (await this.engine.volumeExists(s.volume)) ? s : undefined;
    };
    const existing = await ready();
    // A multi-node engine may need to build this golden again on another node (one per node, on
    // demand): it learns how, even when this process did not build it first (a restarted worker).
    this.engine.learnGolden?.(key, this.goldenVolume(key), spec, async (exec) => {
      await loadFiles(exec, (await this.datasets.get(dataset)).files, spec, dataset);
    });
    if (existing) return { snapshot: existing, built: false };
    return this.snapshots.withLock(key, async () => {
      const again = await ready();
      if (again) return { snapshot: again, built: false };
      const volume = this.goldenVolume(key);
      const log = this.logger.child({ golden: key, dataset });
      log.info('building golden snapshot');
      await this.snapshots.begin({ key, dataset, kind: 'dataset', template: template.name, contentHash, image: spec.image, imageDigest, volume });
      const started = Date.now();
      try {
        const { files, mask } = await this.datasets.get(dataset);
        const { sizeBytes } = await this.engine.buildGolden(key, volume, spec, async (exec) => {
          await loadFiles(exec, files, spec, dataset);
          // Masked once here, before the snapshot: every clone starts from masked data at no cost.
          if (mask) {
            const report = await applyMask(exec, spec, dataset, mask);
            log.info({ ...report }, `masked dataset "${dataset}": ${Object.keys(report.masked).length} column(s), leak gate passed over ${report.scanned} other text column(s)`);
          }
        });
        await this.snapshots.markReady(key, sizeBytes, Date.now() - started);
        log.info({ sizeBytes, ms: Date.now() - started }, 'golden snapshot ready');
      } catch (err) {
        await this.snapshots.markFailed(key, (err as Error).message).catch(() => undefined);
        // A half-built golden is of no use, and one that failed the leak gate holds unmasked data: it goes now.
        await this.engine.removeVolume(volume).catch((e) => log.warn({ err: e, volume }, `removing the failed golden ${volume} failed; the reconciler removes it`));
        throw err;
      }
      return { snapshot: (await this.snapshots.get(key))!, built: true };
    });
  }

  /**
   * Puts the seed into an environment's database volume before its stack starts, replacing
   * whatever data (and database container) was there: used for first provisioning, for a
   * retry after a crash mid-clone, and for reset-db.
   *
   * Every destructive step (removing the database container, its volume, cloning into it) first
   * calls `guard`, which proves that the job run still owns the environment and gives its current
   * row; the data is replaced only while that row says it was never seeded in this generation
   * (mayReplaceDatabase), never judged from the job's copy of the environment.
   */
  async prepare(env: Environment, template: Template, stack: StackSpec, ref: EnvironmentRef, imageDigest: string,
    record: (key: string, strategy: CloneStrategy) => Promise<void>,
    guard: (step: string) => Promise<Pick<Environment, 'seed' | 'seededAt'>>, source?: DataSource): Promise<Prepared> {
    if (!template.database || (!env.seed && !source)) return { kind: 'none' };
    const { spec, volume } = SeedService.databaseSpec(template, stack);
    const target = { env: ref, volume };
    if (!mayReplaceDatabase(await guard('replace the database volume'))) return { kind: 'none' };
    const destructive = async (step: string) => {
      if (!mayReplaceDatabase(await guard(step))) {
        throw new PermanentFailure('SEEDED_MEANWHILE', `the database of ${env.name} was seeded while this run replaced it; not touching it (${step})`);
      }
    };
    await destructive('remove the database container');
    await this.engine.removeService(ref, template.database.service);
    await destructive('remove the database volume');
    await this.engine.removeDataVolume(target);
    const { chosen } = await this.strategy();
    if (source) {
      // Copied (reflink where the host has it, else in full), never an overlay: the copy must not
      // depend on a checkpoint that is pruned, or a parent that is destroyed.
      const how = chosen === 'reflink' ? 'reflink' : 'copy';
      const started = Date.now();
      if (source.kind === 'checkpoint' || source.kind === 'capsule') {
        if (!(await this.engine.volumeExists(source.volume))) {
          throw source.kind === 'checkpoint'
            ? new PermanentFailure('CHECKPOINT_MISSING', `checkpoint ${source.id} of ${env.name} has no volume (${source.volume}) any more; rewind to another one (GET .../checkpoints) or reset the database to its seed`)
            : new PermanentFailure('CAPSULE_MISSING', `bug capsule ${source.id} has no volume (${source.volume}) any more; destroy ${env.name} and restore another capsule`);
        }
        await destructive(`copy ${source.kind} ${source.id} into the database volume`);
        const via = await this.engine.clone(how, source.volume, target, source.id);
        return { kind: 'cloned', strategy: how, via, key: source.id, ms: Date.now() - started, builtGolden: false, from: source.kind };
      }
      await destructive(`copy the database of ${source.parentName} into the database volume`);
      if (source.snapshotKey) await record(source.snapshotKey, how);
      const db = template.database.service;
      const copied = await this.snapshots.withSaveLock(source.parent.id, () =>
        this.engine.copyLive({ env: source.parent, volume }, db, { kind: 'data', into: target, snapshot: source.snapshotKey ?? `fork-of-${source.parent.id}` }, how));
      return { kind: 'cloned', strategy: how, via: copied.via, key: source.snapshotKey ?? '', ms: Date.now() - started, builtGolden: false, from: 'fork', pauseMs: copied.pauseMs };
    }
    const seed = env.seed!; // no source: prepare() returned above without a seed
    if (chosen === 'restore') {
      if (await this.snapshots.savedDataset(seed)) throw new PermanentFailure('SEED_UNSUPPORTED', `saved dataset "${env.seed}" needs a clone strategy; this host uses restore`);
      return { kind: 'restore' };
    }
    const started = Date.now();
    // May wait on another worker's golden build (an advisory lock), or build it: re-checked after.
    const { snapshot, built } = await this.ensureGolden(seed, template, spec, imageDigest);
    await this.snapshots.touch(snapshot.key);
    await destructive('clone the seed into the database volume');
    await record(snapshot.key, chosen);
    const via = await this.engine.clone(chosen, snapshot.volume, target, snapshot.key);
    return { kind: 'cloned', strategy: chosen, via, key: snapshot.key, ms: Date.now() - started, builtGolden: built };
  }

  /**
   * Takes a checkpoint of an environment's database: a copy of its data volume made while the
   * database is paused (reflink where the host has it, else a full copy), under the environment's
   * save lock (the reconciler leaves a paused database alone meanwhile).
   */
  async checkpoint(env: Environment, template: Template, stack: StackSpec, ref: EnvironmentRef, id: string): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia }> {
    const { volume } = SeedService.databaseSpec(template, stack);
    const { chosen } = await this.strategy();
    return this.snapshots.withSaveLock(env.id, () =>
      this.engine.copyLive({ env: ref, volume }, template.database!.service, { kind: 'checkpoint', env: ref, id }, chosen === 'reflink' ? 'reflink' : 'copy'));
  }

  /**
   * Takes a bug capsule's copy of an environment's database: as a checkpoint is taken (paused for
   * a moment, under the save lock), into the capsule's own volume, which outlives the environment.
   */
  async capsule<T>(env: Environment, template: Template, stack: StackSpec, ref: EnvironmentRef, capsule: { id: string; volume: string },
    then: () => Promise<T>): Promise<{ pauseMs: number; sizeBytes: number | null; via: CloneVia; then: T }> {
    const { volume } = SeedService.databaseSpec(template, stack);
    const { chosen } = await this.strategy();
    // `then` (the capsule's pg_dump and log reads) runs under the same lock: no other capsule,
    // checkpoint or fork pauses the database while a command runs in it.
    return this.snapshots.withSaveLock(env.id, async () => {
      const taken = await this.engine.copyLive({ env: ref, volume }, template.database!.service, { kind: 'capsule', volume: capsule.volume, id: capsule.id }, chosen === 'reflink' ? 'reflink' : 'copy');
      return { ...taken, then: await then() };
    });
  }

  /** Removes a checkpoint's volume ("not found" is done). */
  async removeCheckpointVolume(volume: string): Promise<void> {
    await this.engine.removeVolume(volume);
  }

  /**
   * Saves an environment's current database as a new dataset (its database is stopped meanwhile),
   * owned by `by` of `team`. `admit` decides with the copy's real size whether the team may keep
   * it (core/app/datasets.ts admitSaved: it marks it ready, or throws); refused, the copy is removed.
   */
  async save(env: Environment, template: Template, stack: StackSpec, ref: EnvironmentRef, name: string, by: string, team: string,
    admit: (key: string, sizeBytes: number | null, markReady: () => Promise<void>) => Promise<void>): Promise<Snapshot> {
    const { spec, volume } = SeedService.databaseSpec(template, stack);
    const key = createHash('sha256').update(`saved\n${name}\n${env.id}\n${Date.now()}`).digest('hex').slice(0, 32);
    const golden = this.goldenVolume(key);
    await this.snapshots.begin({
      key, dataset: name, kind: 'saved', template: template.name, contentHash: key, image: spec.image, imageDigest: env.digests[template.database!.service] ?? spec.image,
      volume: golden, sourceEnv: env.id, sourceName: env.name, createdBy: by, team,
    });
    const started = Date.now();
    let sizeBytes: number | null = null;
    try {
      // The database is stopped for the copy: under the environment's save lock, so the reconciler
      // does not take the pause for a lost container and redeploy it.
      await this.snapshots.withSaveLock(env.id, async () => {
        await this.engine.stopService(ref, template.database!.service);
        try {
          const { chosen } = await this.strategy();
          ({ sizeBytes } = await this.engine.saveVolume({ env: ref, volume }, golden, { snapshot: key, dataset: name }, chosen === 'reflink' ? 'reflink' : 'copy'));
        } finally {
          // The environment's database comes back whatever happened, before anyone is told.
          await this.engine.startService(ref, template.database!.service, this.config.healthTimeoutMs);
        }
      });
    } catch (err) {
      await this.snapshots.markFailed(key, (err as Error).message);
      throw err;
    }
    try {
      await admit(key, sizeBytes, () => this.snapshots.markReady(key, sizeBytes, Date.now() - started));
    } catch (err) {
      await this.engine.removeVolume(golden).catch((e) => this.logger.warn({ err: e, volume: golden }, `removing the refused copy ${golden} failed; deleting the dataset "${name}" removes it`));
      await this.snapshots.markFailed(key, (err as Error).message);
      throw err;
    }
    return (await this.snapshots.get(key))!;
  }

  /**
   * Removes the volumes of deleted saved datasets (records `deleting`, of one name or every one
   * deleted over `olderThanMs` ago), then records them `removed`. Idempotent ("not found" is
   * done); one a live environment still uses (an overlay clone reads its golden) waits for a
   * later run. `removed(s)` is told once per record this run finished.
   */
  async removeDeleted(opts: { name?: string; olderThanMs?: number }, removed: (s: Snapshot) => Promise<void> = async () => undefined): Promise<{ removed: Snapshot[]; waiting: string[] }> {
    const done: Snapshot[] = [];
    const waiting: string[] = [];
    for (const s of await this.snapshots.deleting(opts)) {
      const users = await this.snapshots.liveUsers(s.dataset, [s.key]);
      if (users.length) { waiting.push(`${s.volume} (used by ${users.map((u) => u.name).join(', ')})`); continue; }
      await this.engine.removeVolume(s.volume);
      if (await this.snapshots.finishDeleting(s.key)) {
        done.push(s);
        this.logger.info({ dataset: s.dataset, golden: s.key, volume: s.volume, sizeBytes: s.sizeBytes, deletedBy: s.deletedBy }, `removed the volume ${s.volume} of deleted saved dataset "${s.dataset}"`);
        await removed(s);
      }
    }
    return { removed: done, waiting };
  }

  /** Removes goldens no live environment uses and that a newer golden of their dataset replaced. */
  async collectGarbage(): Promise<number> {
    let removed = 0;
    for (const s of await this.snapshots.unused()) {
      if (s.lastUsedAt && Date.now() - s.lastUsedAt.getTime() < 60_000) continue; // maybe being cloned right now
      await this.engine.removeVolume(s.volume);
      await this.snapshots.markRemoved(s.key);
      removed++;
      this.logger.info({ golden: s.key, dataset: s.dataset }, 'removed an unused golden snapshot');
    }
    return removed;
  }
}
