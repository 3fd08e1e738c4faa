import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { PermanentFailure } from '../../core/domain/errors.js';
import type { DatasetCatalog } from '../../core/catalog/datasets.js';
import type { Template } from '../../core/catalog/templates.js';
import type { EnvironmentRef, Runtime } from '../runtime/runtime.js';
import type { Exec } from './engine.js';
import { applyMask } from './mask.js';

/**
 * Loads dataset files (.sql, .sql.gz, .dump in name order) into a running PostgreSQL through
 * `exec` (psql or pg_restore reading stdin). Used to build golden snapshots, and by the
 * `restore` strategy to load each environment's database after it is healthy.
 */
export interface SeedResult {
  files: string[];
  bytes: number;
  ms: number;
}

export async function loadFiles(exec: Exec, files: string[], db: { user: string; name: string }, dataset: string): Promise<SeedResult> {
  const started = Date.now();
  let bytes = 0;
  for (const file of files) {
    bytes += (await stat(file)).size;
    // (No 'data' listener here: it would start the stream flowing before exec pipes it.)
    let input: Readable = createReadStream(file);
    if (file.endsWith('.gz')) input = input.pipe(createGunzip());
    const cmd = file.endsWith('.dump')
      ? ['pg_restore', '--no-owner', '--exit-on-error', '-U', db.user, '-d', db.name]
      : ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', db.user, '-d', db.name];
    const { exitCode, output } = await exec(cmd, input);
    if (exitCode !== 0) {
      throw new PermanentFailure('SEED_FAILED', `loading ${path.basename(file)} of dataset "${dataset}" failed (exit ${exitCode}): ${output.trim().split('\n').slice(-5).join(' | ')}`);
    }
  }
  return { files: files.map((f) => path.basename(f)), bytes, ms: Date.now() - started };
}

/** The `restore` strategy: load the dataset into an environment's running database service. */
export async function loadSeed(runtime: Runtime, env: EnvironmentRef, template: Template, datasets: DatasetCatalog, dataset: string): Promise<SeedResult> {
  const started = Date.now();
  const db = template.database;
  if (!db) throw new PermanentFailure('SEED_UNSUPPORTED', `template "${template.name}" has no database service to seed`);
  const { files, mask } = await datasets.get(dataset).catch((err) => {
    throw (err as { code?: string }).code === 'INVALID_DATASET' ? err : new PermanentFailure('SEED_NOT_FOUND', err.message);
  });
  const exec: Exec = (cmd, input) => runtime.exec(env, db.service, cmd, input);
  const result = await loadFiles(exec, files, db, dataset);
  // Without a golden, the environment's own database is masked (and scrubbed) before anyone uses it.
  if (mask) await applyMask(exec, db, dataset, mask);
  return mask ? { ...result, ms: Date.now() - started } : result;
}
