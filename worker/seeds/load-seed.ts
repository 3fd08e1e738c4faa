import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { PermanentFailure } from '../../core/errors.js';
import type { Template } from '../../core/templates.js';
import type { EnvironmentRef, Runtime } from '../runtime/runtime.js';

/**
 * Loads a dataset (seed-data/<name>/*.sql, *.sql.gz, *.dump in name order) into an environment's
 * database service once it is healthy. This is the "restore" strategy: the only place that puts
 * seed data into an environment, so snapshot clones can replace it behind this one function.
 */
export interface SeedResult {
  files: string[];
  bytes: number;
  ms: number;
}

const SEED_FILE = /\.(sql|sql\.gz|dump)$/;

export async function seedFiles(seedsDir: string, dataset: string): Promise<string[]> {
  const dir = path.join(seedsDir, dataset);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new PermanentFailure('SEED_NOT_FOUND', `dataset "${dataset}" has no folder ${dir}`);
  }
  const files = names.filter((n) => SEED_FILE.test(n)).sort();
  if (!files.length) throw new PermanentFailure('SEED_NOT_FOUND', `dataset "${dataset}" has no .sql, .sql.gz or .dump file in ${dir}`);
  return files.map((n) => path.join(dir, n));
}

export async function loadSeed(
  runtime: Runtime, env: EnvironmentRef, template: Template, seedsDir: string, dataset: string,
): Promise<SeedResult> {
  const db = template.database;
  if (!db) throw new PermanentFailure('SEED_UNSUPPORTED', `template "${template.name}" has no database service to seed`);
  const started = Date.now();
  const files = await seedFiles(seedsDir, dataset);
  let bytes = 0;
  for (const file of files) {
    bytes += (await stat(file)).size;
    const isDump = file.endsWith('.dump');
    let input: Readable = createReadStream(file);
    if (file.endsWith('.gz')) input = input.pipe(createGunzip());
    const cmd = isDump
      ? ['pg_restore', '--no-owner', '--exit-on-error', '-U', db.user, '-d', db.name]
      : ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', db.user, '-d', db.name];
    const { exitCode, output } = await runtime.exec(env, db.service, cmd, input);
    if (exitCode !== 0) {
      throw new PermanentFailure('SEED_FAILED', `loading ${path.basename(file)} of dataset "${dataset}" failed (exit ${exitCode}): ${output.trim().split('\n').slice(-5).join(' | ')}`);
    }
  }
  return { files: files.map((f) => path.basename(f)), bytes, ms: Date.now() - started };
}
