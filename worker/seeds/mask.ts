import { Readable } from 'node:stream';
import { PermanentFailure } from '../../core/domain/errors.js';
import type { ColumnRef, MaskDefinition, MaskRule } from '../../core/catalog/mask.js';
import type { Exec } from './engine.js';
import { installSql, MASK_SCHEMA } from './mask-sql.js';

/**
 * Masked seeds, applied in the database a dataset was just loaded into (the golden build, or an
 * environment's own database under the `restore` strategy), before anything is copied from it:
 *
 * 1. check every rule and allow-list entry against the loaded tables (MASK_RULE_INVALID),
 * 2. mask each rule's column in one UPDATE per table (foreign keys and triggers off meanwhile:
 *    equal values are masked equally, so keys that matched still match),
 * 3. the leak gate (MASK_LEAK): no masked value may equal its source, and no other text column
 *    outside the allow-list may hold e-mail addresses, phone numbers or Luhn-valid card numbers,
 * 4. scrub what still holds the source: the masked tables and their indexes are rewritten
 *    (VACUUM FULL), their statistics gathered again, and the WAL that recorded the load is removed,
 *    so no source value is left in any file a clone copies.
 *
 * Messages name the dataset, the table.column and how many rows, never a value.
 */
export interface MaskReport {
  /** Rows masked per rule (schema.table.column). */
  masked: Record<string, number>;
  /** Text columns the leak gate scanned. */
  scanned: number;
  ms: number;
}

interface DbColumn {
  schema: string;
  table: string;
  column: string;
  /** pg_type.typcategory of the column (S: string; A: array; U: json). */
  category: string;
  type: string;
  /** varchar(n)/char(n) length, or 0. */
  maxLength: number;
  /** r: table, p: partitioned table, m: materialized view. */
  kind: string;
  /** A string array, json or jsonb: scanned by the leak gate as text. */
  textual: boolean;
}

const FS = '\t';

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function qualified(c: { schema: string; table: string }): string {
  return `${ident(c.schema)}.${ident(c.table)}`;
}

export function columnKey(c: ColumnRef): string {
  return `${c.schema}.${c.table}.${c.column}`;
}

/** psql reading a script from stdin; rows as tab-separated lines. */
async function psql(exec: Exec, db: { user: string; name: string }, sql: string, step: string, dataset: string): Promise<string[][]> {
  const { exitCode, output } = await exec(['psql', '-X', '-q', '-A', '-t', '-F', FS, '-v', 'ON_ERROR_STOP=1', '-U', db.user, '-d', db.name], Readable.from([sql]));
  if (exitCode !== 0) {
    throw new PermanentFailure('MASK_FAILED', `masking dataset "${dataset}" failed while it ${step} (psql exit ${exitCode}): ${output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return output.split('\n').filter((l) => l.length).map((l) => l.split(FS));
}

const COLUMNS_SQL = `
SELECT n.nspname, c.relname, a.attname, t.typcategory, format_type(a.atttypid, a.atttypmod),
  CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END, c.relkind,
  (t.typcategory = 'S' OR t.typname IN ('json', 'jsonb') OR (t.typcategory = 'A' AND e.typcategory = 'S'))::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', '${MASK_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2, a.attnum;`;

export function parseColumns(rows: string[][]): DbColumn[] {
  return rows.filter((r) => r.length >= 8).map(([schema, table, column, category, type, maxLength, kind, textual]) => ({
    schema: schema!, table: table!, column: column!, category: category!, type: type!, maxLength: Number(maxLength) || 0, kind: kind!, textual: textual === 'true',
  }));
}

/**
 * Every rule names a string column of a table, every allow-list entry a table (and a column of it,
 * unless `*`). All the problems at once, naming the dataset and each rule.
 */
export function checkRules(dataset: string, def: MaskDefinition, columns: DbColumn[]): void {
  const problems: { field: string; message: string }[] = [];
  const tableCols = (c: ColumnRef) => columns.filter((d) => d.schema === c.schema && d.table === c.table);
  const describe = (c: ColumnRef) => `${c.schema === 'public' ? '' : `${c.schema}.`}${c.table}`;
  for (const rule of def.rules) {
    const cols = tableCols(rule);
    const col = cols.find((d) => d.column === rule.column);
    if (!cols.length) problems.push({ field: `mask.${rule.ref}`, message: `there is no table ${describe(rule)} in the loaded data` });
    else if (!col) problems.push({ field: `mask.${rule.ref}`, message: `table ${describe(rule)} has no column "${rule.column}" (its columns: ${cols.map((d) => d.column).join(', ')})` });
    else if (col.kind === 'm') problems.push({ field: `mask.${rule.ref}`, message: `${describe(rule)} is a materialized view; mask the tables it is made from and refresh it in the dataset` });
    else if (col.category !== 'S') problems.push({ field: `mask.${rule.ref}`, message: `column "${rule.column}" is ${col.type}; the generators write text (text, varchar, char)` });
  }
  for (const entry of def.allow) {
    const cols = tableCols(entry);
    if (!cols.length) problems.push({ field: `allow: ${entry.ref}`, message: `there is no table ${describe(entry)} in the loaded data` });
    else if (entry.column !== '*' && !cols.some((d) => d.column === entry.column)) {
      problems.push({ field: `allow: ${entry.ref}`, message: `table ${describe(entry)} has no column "${entry.column}" (its columns: ${cols.map((d) => d.column).join(', ')})` });
    }
  }
  if (problems.length) {
    throw new PermanentFailure('MASK_RULE_INVALID',
      `dataset "${dataset}": ${problems.map((p) => `${p.field.startsWith('allow') ? p.field : `mask rule "${p.field.slice('mask.'.length)}"`}: ${p.message}`).join('; ')}. ` +
      `Fix seed-data/${dataset}/dataset.yml; nothing was built`, { details: problems });
  }
}

/** Rules grouped by table, in a stable order. */
function byTable(rules: MaskRule[]): Map<string, MaskRule[]> {
  const out = new Map<string, MaskRule[]>();
  for (const r of [...rules].sort((a, b) => columnKey(a).localeCompare(columnKey(b)))) {
    const k = qualified(r);
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

/**
 * The masking script. Each distinct (generator, seed) gets one map from every distinct source value
 * of its columns to its masked value, computed once (a session-only table, never written to disk's
 * WAL): columns masked alike share it, so equal values get equal masks. Then, per rule, how many
 * values would equal their source (the leak gate reads it), and one UPDATE per table.
 */
export function maskSql(def: MaskDefinition, columns: DbColumn[]): string {
  const col = (r: MaskRule) => columns.find((d) => d.schema === r.schema && d.table === r.table && d.column === r.column)!;
  const maps = new Map<string, { name: string; generator: string; seed: string; rules: MaskRule[] }>();
  for (const r of [...def.rules].sort((a, b) => columnKey(a).localeCompare(columnKey(b)))) {
    const k = JSON.stringify([r.generator, r.seed]);
    if (!maps.has(k)) maps.set(k, { name: `pg_temp.mayfly_map_${maps.size}`, generator: r.generator, seed: r.seed, rules: [] });
    maps.get(k)!.rules.push(r);
  }
  const mapOf = (r: MaskRule) => maps.get(JSON.stringify([r.generator, r.seed]))!.name;
  const masked = (r: MaskRule, source: string) => {
    const e = `(SELECT m FROM ${mapOf(r)} WHERE v = ${source}::text)`;
    return col(r).maxLength ? `left(${e}, ${col(r).maxLength})` : e;
  };
  const lines = ['BEGIN;', 'SET LOCAL session_replication_role = replica;'];
  for (const m of maps.values()) {
    const sources = m.rules.map((r) => `SELECT ${ident(r.column)}::text FROM ${qualified(r)} WHERE ${ident(r.column)} IS NOT NULL`).join(' UNION ');
    lines.push(`CREATE TEMP TABLE ${m.name.slice('pg_temp.'.length)} ON COMMIT DROP AS SELECT v, ${MASK_SCHEMA}.mask(${literal(m.generator)}, v, ${literal(m.seed)}) AS m FROM (SELECT DISTINCT v FROM (${sources}) u(v)) s(v);`);
    // A hash index: no size limit on the values (long free text), and lookups are all by equality.
    lines.push(`CREATE INDEX ON ${m.name} USING hash (v);`, `ANALYZE ${m.name};`);
  }
  for (const [table, rules] of byTable(def.rules)) {
    for (const r of rules) {
      const c = `t.${ident(r.column)}`;
      lines.push(`SELECT 'same', ${literal(columnKey(r))}, count(*) FILTER (WHERE ${c} ~ '[[:alnum:]]' AND ${masked(r, c)} = ${c}::text), count(${c}) FROM ${table} t;`);
    }
    lines.push(`UPDATE ${table} t SET ${rules.map((r) => `${ident(r.column)} = ${masked(r, `t.${ident(r.column)}`)}`).join(', ')};`);
  }
  lines.push('COMMIT;');
  return lines.join('\n');
}

/** The columns the leak gate reads: every textual column not masked and not allowed. */
export function gateColumns(def: MaskDefinition, columns: DbColumn[]): DbColumn[] {
  const masked = new Set(def.rules.map(columnKey));
  const allowed = new Set(def.allow.map(columnKey));
  return columns.filter((c) => c.textual && !masked.has(columnKey(c)) && !allowed.has(columnKey(c)) && !allowed.has(columnKey({ ...c, column: '*' })));
}

export function gateSql(scan: DbColumn[]): string {
  const s = MASK_SCHEMA;
  return scan.map((c) => {
    const v = `${ident(c.column)}::text`;
    return `SELECT 'leak', ${literal(columnKey(c))}, count(*) FILTER (WHERE ${s}.has_email(${v})), count(*) FILTER (WHERE ${s}.has_phone(${v})), ` +
      `count(*) FILTER (WHERE ${s}.has_card(${v})) FROM ${qualified(c)} WHERE ${ident(c.column)} IS NOT NULL;`;
  }).join('\n');
}

/** The leak gate's verdict from the rows of the masking and gate scripts: why the build must fail, or undefined. */
export function leakProblems(dataset: string, rows: string[][]): string | undefined {
  const problems: string[] = [];
  for (const r of rows) {
    if (r[0] === 'same' && Number(r[2]) > 0) problems.push(`${r[1]}: ${r[2]} of ${r[3]} masked values equal their source`);
    if (r[0] === 'leak') {
      const kinds = [['e-mail addresses', r[2]], ['phone numbers', r[3]], ['card numbers with a valid check digit', r[4]]]
        .filter(([, n]) => Number(n) > 0).map(([what, n]) => `${what} in ${n} rows`);
      if (kinds.length) problems.push(`${r[1]} is not masked and holds ${kinds.join(', ')}`);
    }
  }
  if (!problems.length) return undefined;
  return `dataset "${dataset}" would leak personal data: ${problems.join('; ')}. Add a mask rule for each such column (mask: {table.column: generator}) ` +
    `or, if its values are not personal data, list it under allow: in seed-data/${dataset}/dataset.yml; nothing was built`;
}

/**
 * Rewrites the masked tables (and their indexes, TOAST and statistics): the old row versions, which
 * hold the source values, go with the old files. Then the WAL is checkpointed; its segments are read
 * by scrubWal.
 */
export function scrubTablesSql(def: MaskDefinition): string {
  const tables = [...byTable(def.rules).keys()];
  return [
    `DROP SCHEMA ${MASK_SCHEMA} CASCADE;`,
    ...tables.map((t) => `VACUUM FULL ${t};`),
    ...tables.map((t) => `ANALYZE ${t};`),
    'VACUUM FULL pg_catalog.pg_statistic;',
    'VACUUM FULL pg_catalog.pg_statistic_ext_data;',
    // Old segments deleted at a checkpoint, not renamed for reuse with their contents.
    'ALTER SYSTEM SET wal_recycle = off;',
    'SELECT pg_reload_conf();',
    'CHECKPOINT;',
    `SELECT 'wal', current_setting('data_directory'), pg_walfile_name(pg_current_wal_lsn());`,
  ].join('\n');
}

const SEGMENT = /^[0-9A-F]{24}$/;

/** WAL segment files to delete: those after `current` (made for reuse: stale contents), or every one but it. */
export function staleSegments(names: string[], current: string, which: 'after' | 'all-but'): string[] {
  return names.filter((n) => SEGMENT.test(n) && (which === 'after' ? n > current : n !== current));
}

/**
 * The WAL still holds the load (every source value) in its segments, old and recycled ones alike:
 * delete the segments made ahead of time, switch to a new (zero-filled) segment, checkpoint, and
 * delete every segment but that one. What is left records only what came after the masking.
 */
async function scrubWal(exec: Exec, db: { user: string; name: string }, dataset: string, first: string[][]): Promise<void> {
  const at = first.find((r) => r[0] === 'wal');
  if (!at) throw new PermanentFailure('MASK_FAILED', `masking dataset "${dataset}": PostgreSQL did not say where its WAL is`);
  const dir = `${at[1]}/pg_wal`;
  const remove = async (current: string, which: 'after' | 'all-but') => {
    const names = (await psql(exec, db, 'SELECT name FROM pg_ls_waldir();', 'listed its WAL', dataset)).map((r) => r[0]!);
    const stale = staleSegments(names, current, which);
    if (!stale.length) return;
    const { exitCode, output } = await exec(['rm', '-f', '--', ...stale.map((n) => `${dir}/${n}`)]);
    if (exitCode !== 0) throw new PermanentFailure('MASK_FAILED', `masking dataset "${dataset}": removing old WAL segments failed (exit ${exitCode}): ${output.trim().slice(0, 300)}`);
  };
  await remove(at[2]!, 'after');
  const rows = await psql(exec, db, [
    'SELECT pg_switch_wal();',
    'CHECKPOINT;',
    `SELECT 'wal', current_setting('data_directory'), pg_walfile_name(pg_current_wal_lsn());`,
  ].join('\n'), 'switched its WAL', dataset);
  await remove(rows.find((r) => r[0] === 'wal')![2]!, 'all-but');
  await psql(exec, db, 'ALTER SYSTEM RESET wal_recycle;\nSELECT pg_reload_conf();', 'reset its settings', dataset);
}

/** Masks a loaded dataset in place, holds it to the leak gate, and scrubs what held the source. */
export async function applyMask(exec: Exec, db: { user: string; name: string }, dataset: string, def: MaskDefinition): Promise<MaskReport> {
  const started = Date.now();
  const columns = parseColumns(await psql(exec, db, COLUMNS_SQL, 'read the loaded tables', dataset));
  checkRules(dataset, def, columns);
  await psql(exec, db, installSql(), 'installed its functions', dataset);
  const maskRows = def.rules.length ? await psql(exec, db, maskSql(def, columns), 'masked the columns', dataset) : [];
  const scan = gateColumns(def, columns);
  const gateRows = scan.length ? await psql(exec, db, gateSql(scan), 'scanned for personal data (the leak gate)', dataset) : [];
  const leak = leakProblems(dataset, [...maskRows, ...gateRows]);
  if (leak) throw new PermanentFailure('MASK_LEAK', leak);
  await scrubWal(exec, db, dataset, await psql(exec, db, scrubTablesSql(def), 'rewrote the masked tables', dataset));
  const masked: Record<string, number> = {};
  for (const r of maskRows) if (r[0] === 'same') masked[r[1]!] = Number(r[3]);
  return { masked, scanned: scan.length, ms: Date.now() - started };
}
