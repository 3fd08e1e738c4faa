/**
 * The application service for saved datasets (databases saved from environments as datasets
 * others can start from): listing them with who owns them, the checks before a save is queued
 * (the name, the team's limits), the worker's final admission with the real size, and deleting
 * them. Every door (REST, the web pages, the CLI through REST) and the save job call it; rights
 * are decided by core/app/authorization.ts.
 *
 * A saved dataset belongs to the principal that saved it (its owner) and that principal's team:
 * the team's members and admins may delete it, and it counts against the team's limits
 * (MAYFLY_SAVED_DATASETS_PER_TEAM, MAYFLY_SAVED_BYTES_PER_TEAM). Datasets in seed-data/ are files:
 * they are not deleted through Mayfly.
 */
import { allowed, authorize, datasetTarget } from './authorization.js';
import { bounded, type Delivery } from './delivery.js';
import { formatBytes } from '../domain/bytes.js';
import { NAME_PATTERN, type Environment } from '../domain/environment.js';
import { ConflictError, InputError, MayflyError, NotFoundError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import type { SavedDatasetsConfig } from '../config/datasets.js';
import type { DatasetCatalog } from '../catalog/datasets.js';
import type { Logger } from '../platform/log.js';
import type { JobQueues } from '../queue/jobs.js';
import type { Snapshot, SnapshotStore } from '../store/snapshots.js';

export interface DatasetServiceDeps {
  snapshots: SnapshotStore;
  /** The datasets in seed-data/ (files: never deleted here, and their names are not free). */
  datasets: DatasetCatalog;
  queues: JobQueues;
  logger: Logger;
  limits: SavedDatasetsConfig;
}

/** A saved dataset as the doors show it: its newest record (ready first), and who owns it. */
export interface SavedDataset {
  name: string;
  status: 'building' | 'ready' | 'failed';
  owner: string | null;
  team: string;
  template: string | null;
  /** The environment it was saved from (its name, and id), and that environment's template. */
  source: { environment: string | null; environmentId: string | null; template: string | null };
  sizeBytes: number | null;
  createdAt: Date;
  readyAt: Date | null;
  error: string | null;
  /** Every record of the name (older failed attempts too), newest first. */
  records: Snapshot[];
}

export { formatBytes };

/** Past the team's count of saved datasets: 409, nothing queued. */
export class SavedDatasetsLimitError extends ConflictError {
  constructor(team: string, count: number, limit: number) {
    super('SAVED_DATASETS_LIMIT',
      `team "${team}" has ${count} saved datasets, its limit (MAYFLY_SAVED_DATASETS_PER_TEAM=${limit}); delete one it no longer needs (mayfly datasets rm <name>, or the Datasets page) and save again`,
      { team, count, limit });
  }
}

/** Past the team's bytes of saved datasets: 413, nothing queued (or, in the save job, the save fails and its copy is removed). */
export class SavedBytesLimitError extends MayflyError {
  constructor(team: string, usedBytes: number, addBytes: number, limit: number, estimated: boolean) {
    super('SAVED_BYTES_LIMIT', 413,
      `team "${team}" holds ${formatBytes(usedBytes)} of saved datasets; this one${estimated ? ' (estimated from its seed)' : ''} is ${formatBytes(addBytes)}, ` +
      `over the team's limit of ${formatBytes(limit)} (MAYFLY_SAVED_BYTES_PER_TEAM); delete saved datasets it no longer needs and save again`,
      { details: { team, usedBytes, addBytes, limitBytes: limit, estimated } });
  }
}

export class DatasetService {
  constructor(private readonly deps: DatasetServiceDeps) {}

  /** Saved datasets (one per name), each with whether `actor` may delete it. */
  async listSaved(actor: Principal): Promise<(SavedDataset & { canDelete: boolean })[]> {
    authorize(actor, 'seed.list');
    const byName = new Map<string, Snapshot[]>();
    for (const r of await this.deps.snapshots.savedRecords()) byName.set(r.dataset, [...(byName.get(r.dataset) ?? []), r]);
    return [...byName.entries()].map(([name, records]) => {
      const d = present(name, records);
      return { ...d, canDelete: allowed(actor, 'seed.delete', datasetTarget(d)) };
    });
  }

  /** One saved dataset; 400 for a malformed name, 409 for a seed-data/ dataset, 404 when there is none. */
  async getSaved(name: unknown): Promise<SavedDataset> {
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw new InputError('invalid dataset name', [{ field: 'name', message: 'must be a dataset name: 1-63 lowercase letters, digits and "-"' }]);
    }
    const records = await this.deps.snapshots.savedRecords(name);
    if (records.length) return present(name, records);
    if ((await this.deps.datasets.list()).some((d) => d.name === name)) throw fileDataset(name);
    throw new NotFoundError('DATASET_NOT_FOUND', `no saved dataset named "${name}"; GET /api/v1/seeds lists them`);
  }

  /**
   * The name of a new saved dataset, checked before the save is queued: 400 naming the field
   * when it is malformed, a seed-data/ dataset's, or a saved dataset's (ready or being saved).
   */
  async checkNewName(name: unknown): Promise<string> {
    const { datasets, snapshots } = this.deps;
    const problems = [];
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) problems.push({ field: 'name', message: 'is required: the new dataset name, 1-63 lowercase letters, digits and "-"' });
    else if ((await datasets.list()).some((d) => d.name === name)) problems.push({ field: 'name', message: `"${name}" is a dataset in seed-data/; choose another name` });
    else if ((await snapshots.savedRecords(name)).some((r) => r.status !== 'failed')) problems.push({ field: 'name', message: `a saved dataset named "${name}" exists already` });
    if (problems.length) throw new InputError(`invalid request: ${problems.map((p) => p.field).join(', ')}`, problems);
    return name as string;
  }

  /**
   * The team's limits, checked before a save of `env` is queued: its count (409
   * SAVED_DATASETS_LIMIT), and its bytes with this one estimated from the size of the seed the
   * environment was cloned from (413 SAVED_BYTES_LIMIT). The save job checks again with the real
   * size (admitSaved).
   */
  async checkRoom(actor: Principal, env: Environment): Promise<void> {
    const { snapshots, limits } = this.deps;
    if (!limits.perTeam && !limits.bytesPerTeam) return;
    const usage = await snapshots.teamUsage(actor.team);
    if (limits.perTeam && usage.count >= limits.perTeam) throw new SavedDatasetsLimitError(actor.team, usage.count, limits.perTeam);
    if (limits.bytesPerTeam) {
      const estimate = (env.snapshotKey ? (await snapshots.get(env.snapshotKey))?.sizeBytes : null) ?? 0;
      if (usage.bytes + estimate > limits.bytesPerTeam) throw new SavedBytesLimitError(actor.team, usage.bytes, estimate, limits.bytesPerTeam, true);
    }
  }

  /**
   * The save job's admission of a copy it made, with its real size: within the team's limits
   * (other ready datasets of the team, one admission at a time per team), `markReady` runs and
   * the dataset is ready; past them it throws SAVED_DATASETS_LIMIT or SAVED_BYTES_LIMIT and the
   * caller removes the copy.
   */
  async admitSaved(team: string, key: string, sizeBytes: number | null, markReady: () => Promise<void>): Promise<void> {
    const { snapshots, limits } = this.deps;
    await snapshots.withTeamLock(team, async () => {
      const usage = await snapshots.teamUsage(team, { exceptKey: key, readyOnly: true });
      if (limits.perTeam && usage.count + 1 > limits.perTeam) throw new SavedDatasetsLimitError(team, usage.count, limits.perTeam);
      if (limits.bytesPerTeam && usage.bytes + (sizeBytes ?? 0) > limits.bytesPerTeam) {
        throw new SavedBytesLimitError(team, usage.bytes, sizeBytes ?? 0, limits.bytesPerTeam, false);
      }
      await markReady();
    });
  }

  /**
   * Deletes a saved dataset: its owner's team or an admin; refused (409 DATASET_IN_USE, naming
   * them) while a live environment was started from it, and for a dataset in seed-data/ (409
   * DATASET_IS_FILE); one being saved waits (409 DATASET_SAVING). Its records go at once (no
   * longer listed or startable, the name is free); the worker removes its volumes (a queued job;
   * when Redis does not answer, the reconciler finishes it).
   */
  async delete(actor: Principal, name: unknown): Promise<{ dataset: SavedDataset; volumes: string[]; delivery: Delivery }> {
    const dataset = await this.getSaved(name);
    authorize(actor, 'seed.delete', datasetTarget(dataset));
    const { snapshots, queues, logger } = this.deps;
    const inUse = async () => {
      const users = await snapshots.liveUsers(dataset.name, dataset.records.map((r) => r.key));
      if (users.length) {
        throw new ConflictError('DATASET_IN_USE',
          `saved dataset "${dataset.name}" is in use by ${users.length === 1 ? 'environment' : 'environments'} ${users.map((u) => `"${u.name}" (${u.status})`).join(', ')}; destroy ${users.length === 1 ? 'it' : 'them'} first, then delete the dataset`,
          { dataset: dataset.name, environments: users.map((u) => u.name) });
      }
    };
    await inUse();
    if (dataset.records.some((r) => r.status === 'building')) {
      throw new ConflictError('DATASET_SAVING', `saved dataset "${dataset.name}" is being saved right now; delete it when it is ready (or failed)`, { dataset: dataset.name });
    }
    const moved = await snapshots.markDeleting(dataset.name, actor.name);
    if (!moved.length) {
      await inUse(); // an environment started from it meanwhile
      throw new ConflictError('CONCURRENT_UPDATE', `saved dataset "${dataset.name}" changed while it was being deleted; try again`, { dataset: dataset.name });
    }
    const volumes = moved.map((r) => r.volume);
    logger.info({ dataset: dataset.name, by: actor.name, team: dataset.team, volumes }, `saved dataset "${dataset.name}" deleted by ${actor.name}; its volumes are being removed`);
    let delivery: Delivery = 'queued';
    await bounded(queues.enqueueDeleteDataset(dataset.name, actor.name)).catch((err) => {
      delivery = 'deferred';
      logger.warn({ err, dataset: dataset.name }, `could not queue the removal of saved dataset "${dataset.name}": Redis did not answer; the reconciler removes its volumes`);
    });
    return { dataset, volumes, delivery };
  }
}

function fileDataset(name: string): ConflictError {
  return new ConflictError('DATASET_IS_FILE',
    `"${name}" is a dataset of files in seed-data/ (MAYFLY_SEEDS_DIR), not a saved one: it cannot be deleted through Mayfly; an operator removes its folder there`,
    { dataset: name });
}

function present(name: string, records: Snapshot[]): SavedDataset {
  const current = records.find((r) => r.status === 'ready') ?? records.find((r) => r.status === 'building') ?? records[0]!;
  return {
    name,
    status: current.status as SavedDataset['status'],
    owner: current.createdBy,
    team: current.team ?? 'default',
    template: current.template,
    source: { environment: current.sourceName, environmentId: current.sourceEnv, template: current.template },
    sizeBytes: current.sizeBytes,
    createdAt: current.createdAt,
    readyAt: current.readyAt,
    error: current.error,
    records,
  };
}
