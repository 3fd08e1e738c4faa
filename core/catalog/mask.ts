import { PermanentFailure } from '../domain/errors.js';

/**
 * Masked seeds: the `mask:` and `allow:` sections of a dataset's dataset.yml. The rules are
 * applied once, inside the golden build (worker/seeds/mask.ts), so clones stay instant. Parsed
 * and checked here when the dataset is read (a generator that does not exist, a column reference
 * that is not `table.column` or `schema.table.column`); whether each column exists is checked
 * at build time, against the loaded data.
 *
 *   mask:
 *     seed: shop-2026                  # optional: the default rule seed (default: the dataset name)
 *     customers.email: email
 *     orders.customer_email: email     # same generator and seed: the same masked value, joins match
 *     customers.card: { generator: digits, seed: cards-1 }
 *   allow: [products.name, audit_log.*]
 */
export const MASK_GENERATORS = ['name', 'email', 'phone', 'address', 'text', 'digits'] as const;
export type MaskGenerator = (typeof MASK_GENERATORS)[number];

/**
 * Part of every masked dataset's golden key: changing the generators' SQL (worker/seeds/mask-sql.ts)
 * must build new goldens, since their output changes.
 */
export const MASK_VERSION = 1;

/** A column in the database: schema defaults to public. */
export interface ColumnRef {
  schema: string;
  table: string;
  /** `*` only in an allow-list entry: every column of the table. */
  column: string;
}

export interface MaskRule extends ColumnRef {
  /** As written in dataset.yml (for messages). */
  ref: string;
  generator: MaskGenerator;
  seed: string;
}

export interface MaskDefinition {
  rules: MaskRule[];
  allow: (ColumnRef & { ref: string })[];
}

/** Unquoted PostgreSQL identifiers (lower case), as the rules name them. */
const IDENT = '[a-z_][a-z0-9_$]*';
const COLUMN_REF = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT})\\.(${IDENT})$`);
const ALLOW_REF = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT})\\.(${IDENT}|\\*)$`);
const SEED_MAX = 200;

function invalid(dataset: string, field: string, message: string): never {
  throw new PermanentFailure('INVALID_DATASET', `dataset "${dataset}": ${field} ${message}; fix seed-data/${dataset}/dataset.yml`, { details: [{ field, message }] });
}

function columnRef(dataset: string, field: string, ref: string, pattern: RegExp): ColumnRef {
  const m = pattern.exec(ref);
  if (!m) {
    invalid(dataset, field, `is not a column reference: write table.column or schema.table.column in lower case${pattern === ALLOW_REF ? ' (or table.* for a whole table)' : ''}, got "${ref.slice(0, 80)}"`);
  }
  return { schema: m[1] ?? 'public', table: m[2]!, column: m[3]! };
}

function key(c: ColumnRef): string {
  return `${c.schema}.${c.table}.${c.column}`;
}

function ruleSeed(dataset: string, field: string, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') invalid(dataset, field, 'must be a string');
  const seed = String(value);
  if (!seed.length || seed.length > SEED_MAX) invalid(dataset, field, `must be 1 to ${SEED_MAX} characters`);
  return seed;
}

/**
 * The mask definition of a dataset's metadata (the parsed dataset.yml), or undefined when it has
 * neither `mask:` nor `allow:`. Throws INVALID_DATASET naming the dataset and the rule.
 */
export function parseMaskDefinition(dataset: string, meta: Record<string, unknown>): MaskDefinition | undefined {
  if (meta.mask === undefined && meta.allow === undefined) return undefined;
  const mask = meta.mask ?? {};
  if (typeof mask !== 'object' || mask === null || Array.isArray(mask)) invalid(dataset, 'mask', 'must map columns (table.column) to generators');
  const entries = Object.entries(mask as Record<string, unknown>);
  const defaultSeed = 'seed' in mask ? ruleSeed(dataset, 'mask.seed', (mask as Record<string, unknown>).seed) : dataset;
  const rules: MaskRule[] = [];
  const seen = new Map<string, string>();
  for (const [ref, value] of entries) {
    if (ref === 'seed') continue;
    const field = `mask.${ref}`;
    const col = columnRef(dataset, field, ref, COLUMN_REF);
    let generator: unknown = value;
    let seed = defaultSeed;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const v = value as Record<string, unknown>;
      const unknown = Object.keys(v).find((k) => k !== 'generator' && k !== 'seed');
      if (unknown) invalid(dataset, `${field}.${unknown}`, 'is not a rule setting (only generator and seed)');
      generator = v.generator;
      if (v.seed !== undefined) seed = ruleSeed(dataset, `${field}.seed`, v.seed);
    }
    if (typeof generator !== 'string' || !(MASK_GENERATORS as readonly string[]).includes(generator)) {
      invalid(dataset, field, `names no generator: use one of ${MASK_GENERATORS.join(', ')}, got ${JSON.stringify(generator ?? null).slice(0, 60)}`);
    }
    const k = key(col);
    if (seen.has(k)) invalid(dataset, field, `names the same column as mask.${seen.get(k)}`);
    seen.set(k, ref);
    rules.push({ ...col, ref, generator: generator as MaskGenerator, seed });
  }
  const allowRaw = meta.allow ?? [];
  if (!Array.isArray(allowRaw)) invalid(dataset, 'allow', 'must be a list of columns (table.column or table.*) that may hold personal-looking data');
  const allow = allowRaw.map((raw, i) => {
    if (typeof raw !== 'string') invalid(dataset, `allow[${i}]`, 'must be a string such as table.column');
    const col = columnRef(dataset, `allow[${i}]`, raw, ALLOW_REF);
    if (seen.has(key(col))) invalid(dataset, `allow[${i}]`, `names a masked column (mask.${seen.get(key(col))}): a column is masked or allowed, not both`);
    return { ...col, ref: raw };
  });
  return { rules, allow };
}

/** A stable form of the definition for the golden key (with MASK_VERSION). */
export function maskFingerprint(def: MaskDefinition): string {
  const rules = def.rules.map((r) => [key(r), r.generator, r.seed]).sort((a, b) => a[0]!.localeCompare(b[0]!));
  const allow = def.allow.map(key).sort();
  return JSON.stringify({ v: MASK_VERSION, rules, allow });
}
