import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { NotFoundError, PermanentFailure } from '../domain/errors.js';
import { maskFingerprint, parseMaskDefinition, type MaskDefinition } from './mask.js';

/**
 * Seed datasets on disk: seed-data/<name>/ with .sql, .sql.gz or .dump files (loaded in name
 * order) and an optional dataset.yml (description; `mask:` and `allow:` rules, core/catalog/mask.ts).
 * Their content hash (with the mask rules) is part of the golden snapshot key, so a changed dataset
 * makes a new golden. A dataset.yml that does not parse, or whose rules are wrong, is an error
 * (INVALID_DATASET) wherever the dataset is read: a broken mask must never load data unmasked.
 */
export const SEED_FILE = /\.(sql|sql\.gz|dump)$/;
export const CLONE_STRATEGIES = ['reflink', 'overlay', 'copy', 'restore'] as const;
export type CloneStrategy = (typeof CLONE_STRATEGIES)[number];

export interface Dataset {
  name: string;
  description: string;
  files: string[];
  bytes: number;
  /** Masking rules applied in the golden build, and the leak gate's allow-list (dataset.yml). */
  mask?: MaskDefinition;
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
    const meta = await readMeta(name, path.join(dir, 'dataset.yml'));
    const mask = parseMaskDefinition(name, meta);
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    return { name, description: String(meta.description ?? ''), files, bytes, ...(mask ? { mask } : {}) };
  }

  /**
   * Every dataset folder whose definition is wrong, with why (read at start by the worker, which
   * logs each: list() leaves them out, and an environment of one fails with the same reason).
   */
  async problems(): Promise<{ dataset: string; message: string }[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: { dataset: string; message: string }[] = [];
    for (const name of entries.sort()) {
      await this.get(name).catch((err) => { if ((err as { code?: string }).code === 'INVALID_DATASET') out.push({ dataset: name, message: (err as Error).message }); });
    }
    return out;
  }

  /** sha256 over each file's name and content, in load order, and the mask rules (when there are any). */
  async contentHash(name: string): Promise<string> {
    const d = await this.get(name);
    const h = createHash('sha256');
    for (const f of d.files) h.update(`${path.basename(f)}\0${await hashFile(f)}\n`);
    if (d.mask) h.update(`mask\0${maskFingerprint(d.mask)}\n`);
    return h.digest('hex');
  }
}

/** dataset.yml as a map: missing is empty; present, it must parse (its rules may be a mask). */
async function readMeta(dataset: string, file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PermanentFailure('INVALID_DATASET', `dataset "${dataset}": dataset.yml cannot be read: ${(err as Error).message}`);
  }
  let meta: unknown;
  try {
    meta = YAML.parse(text) ?? {};
  } catch (err) {
    throw new PermanentFailure('INVALID_DATASET', `dataset "${dataset}": dataset.yml is not valid YAML: ${(err as Error).message.split('\n')[0]}; fix seed-data/${dataset}/dataset.yml`);
  }
  if (typeof meta !== 'object' || Array.isArray(meta)) throw new PermanentFailure('INVALID_DATASET', `dataset "${dataset}": dataset.yml must be a map (description, mask, allow)`);
  return meta as Record<string, unknown>;
}
