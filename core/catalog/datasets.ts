import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { NotFoundError } from '../domain/errors.js';

/**
 * Seed datasets on disk: seed-data/<name>/ with .sql, .sql.gz or .dump files (loaded in name
 * order) and an optional dataset.yml (description). Their content hash is part of the golden
 * snapshot key, so a changed dataset makes a new golden.
 */
export const SEED_FILE = /\.(sql|sql\.gz|dump)$/;
export const CLONE_STRATEGIES = ['reflink', 'overlay', 'copy', 'restore'] as const;
export type CloneStrategy = (typeof CLONE_STRATEGIES)[number];

export interface Dataset {
  name: string;
  description: string;
  files: string[];
  bytes: number;
}

const hashCache = new Map<string, { stamp: string; hash: string }>();

async function hashFile(file: string): Promise<string> {
  const st = await stat(file);
  const stamp = `${st.size}:${st.mtimeMs}`;
  const cached = hashCache.get(file);
  if (cached?.stamp === stamp) return cached.hash;
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).on('data', (d) => h.update(d)).on('end', resolve).on('error', reject);
  });
  const hash = h.digest('hex');
  hashCache.set(file, { stamp, hash });
  return hash;
}

export class DatasetCatalog {
  constructor(readonly dir: string) {}

  async list(): Promise<Dataset[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: Dataset[] = [];
    for (const name of entries.sort()) {
      const d = await this.get(name).catch(() => undefined);
      if (d) out.push(d);
    }
    return out;
  }

  async get(name: string): Promise<Dataset> {
    const dir = path.join(this.dir, name);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new NotFoundError('DATASET_NOT_FOUND', `no dataset named "${name}" in ${this.dir}`);
    }
    const files = names.filter((n) => SEED_FILE.test(n)).sort().map((n) => path.join(dir, n));
    if (!files.length) throw new NotFoundError('DATASET_NOT_FOUND', `dataset "${name}" has no .sql, .sql.gz or .dump file in ${dir}`);
    let description = '';
    try {
      description = String((YAML.parse(await readFile(path.join(dir, 'dataset.yml'), 'utf8')) ?? {}).description ?? '');
    } catch { /* optional */ }
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    return { name, description, files, bytes };
  }

  /** sha256 over each file's name and content, in load order. */
  async contentHash(name: string): Promise<string> {
    const d = await this.get(name);
    const h = createHash('sha256');
    for (const f of d.files) h.update(`${path.basename(f)}\0${await hashFile(f)}\n`);
    return h.digest('hex');
  }
}
