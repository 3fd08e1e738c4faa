/**
 * Masked seeds without an engine: the mask definition in dataset.yml (core/catalog/mask.ts), the
 * build-time checks of rules against the loaded tables, the leak gate's verdict, and the order of
 * the steps against a fake Exec (our own port). The generators and detectors themselves are SQL:
 * test/integration/mask-sql.test.ts runs them on PostgreSQL, seeds-masked.test.ts the whole build.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseMaskDefinition, type MaskDefinition } from '../../core/catalog/mask.js';
import { DatasetCatalog } from '../../core/catalog/datasets.js';
import { MayflyError } from '../../core/domain/errors.js';
import { applyMask, checkRules, gateColumns, leakProblems, parseColumns, staleSegments } from '../../worker/seeds/mask.js';
import type { Exec } from '../../worker/seeds/engine.js';

function rejects(fn: () => unknown, code: string, ...parts: RegExp[]): void {
  assert.throws(fn, (err: MayflyError) => {
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.match(err.message, p);
    return true;
  });
}

// Rows as the columns query answers them: schema, table, column, typcategory, type, max length, relkind, textual.
const COLUMNS = parseColumns([
  ['public', 'customers', 'id', 'N', 'integer', '0', 'r', 'false'],
  ['public', 'customers', 'email', 'S', 'character varying(120)', '120', 'r', 'true'],
  ['public', 'customers', 'notes', 'S', 'text', '0', 'r', 'true'],
  ['public', 'customers', 'prefs', 'U', 'jsonb', '0', 'r', 'true'],
  ['public', 'orders', 'customer_email', 'S', 'text', '0', 'r', 'true'],
  ['public', 'orders', 'status', 'S', 'text', '0', 'r', 'true'],
  ['public', 'orders', 'total_cents', 'N', 'integer', '0', 'r', 'false'],
  ['public', 'audit', 'line', 'S', 'text', '0', 'r', 'true'],
  ['public', 'audit', 'who', 'S', 'text', '0', 'r', 'true'],
  ['public', 'emails_mv', 'email', 'S', 'text', '0', 'm', 'true'],
]);

function def(meta: Record<string, unknown>): MaskDefinition {
  return parseMaskDefinition('customers', meta)!;
}

describe('the mask definition in dataset.yml', () => {
  it('when rules are written short or long, then each gets its generator and seed (the mask seed, else the dataset name)', () => {
    const d = def({ mask: { 'customers.email': 'email', 'sales.orders.customer_email': { generator: 'email', seed: 'other' } }, allow: ['audit.*', 'orders.status'] });
    assert.deepEqual(d.rules.map((r) => [r.schema, r.table, r.column, r.generator, r.seed]),
      [['public', 'customers', 'email', 'email', 'customers'], ['sales', 'orders', 'customer_email', 'email', 'other']]);
    assert.deepEqual(d.allow.map((a) => `${a.schema}.${a.table}.${a.column}`), ['public.audit.*', 'public.orders.status']);
    assert.equal(def({ mask: { seed: 's-1', 'customers.email': 'email' } }).rules[0]!.seed, 's-1');
    assert.equal(parseMaskDefinition('demo', { description: 'no rules' }), undefined, 'no mask and no allow: nothing to do');
  });

  it('when a rule names no known generator, then the error names the dataset, the rule and the generators', () => {
    rejects(() => def({ mask: { 'customers.email': 'scramble' } }), 'INVALID_DATASET', /dataset "customers"/, /mask\.customers\.email/, /"scramble"/, /name, email, phone, address, text, digits/);
    rejects(() => def({ mask: { 'customers.email': { generator: 'email', salt: 'x' } } }), 'INVALID_DATASET', /mask\.customers\.email\.salt/);
    rejects(() => def({ mask: { 'customers.email': { generator: 'email', seed: '' } } }), 'INVALID_DATASET', /mask\.customers\.email\.seed/);
  });

  it('when a column reference is malformed, then the error says how to write one', () => {
    rejects(() => def({ mask: { email: 'email' } }), 'INVALID_DATASET', /mask\.email/, /table\.column/);
    rejects(() => def({ mask: { 'Customers.Email': 'email' } }), 'INVALID_DATASET', /lower case/);
    rejects(() => def({ mask: { 'customers.*': 'email' } }), 'INVALID_DATASET', /customers\.\*/);
    rejects(() => def({ allow: ['customers'] }), 'INVALID_DATASET', /allow\[0\]/);
    rejects(() => def({ allow: 'customers.notes' }), 'INVALID_DATASET', /allow must be a list/);
    rejects(() => def({ mask: ['customers.email'] }), 'INVALID_DATASET', /mask must map/);
  });

  it('when a column is both masked and allowed, or masked twice, then it is refused', () => {
    rejects(() => def({ mask: { 'customers.email': 'email' }, allow: ['customers.email'] }), 'INVALID_DATASET', /masked or allowed, not both/);
    rejects(() => def({ mask: { 'customers.email': 'email', 'public.customers.email': 'name' } }), 'INVALID_DATASET', /same column/);
  });
});

describe('datasets with a mask on disk', () => {
  async function folder(yml: string | undefined): Promise<{ catalog: DatasetCatalog; dir: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-mask-'));
    await mkdir(path.join(dir, 'people'));
    await writeFile(path.join(dir, 'people', '01.sql'), 'CREATE TABLE people (email text);\n');
    if (yml !== undefined) await writeFile(path.join(dir, 'people', 'dataset.yml'), yml);
    return { catalog: new DatasetCatalog(dir), dir };
  }

  it('when dataset.yml does not parse, then reading the dataset fails rather than loading it unmasked', async () => {
    const { catalog, dir } = await folder('mask: {people.email: email\n');
    try {
      await assert.rejects(catalog.get('people'), (err: MayflyError) => err.code === 'INVALID_DATASET' && /dataset "people"/.test(err.message));
      assert.deepEqual((await catalog.list()).map((d) => d.name), [], 'not offered');
      const problems = await catalog.problems();
      assert.equal(problems.length, 1);
      assert.equal(problems[0]!.dataset, 'people');
    } finally { await rm(dir, { recursive: true, force: true }); }
  });

  it('when a mask rule changes, then the content hash (the golden key) changes; with no rules it is the files alone', async () => {
    const a = await folder('mask: {people.email: email}\n');
    const b = await folder('mask: {people.email: {generator: email, seed: two}}\n');
    const plain = await folder(undefined);
    const described = await folder('description: only words\n');
    try {
      assert.deepEqual((await a.catalog.get('people')).mask?.rules.map((r) => r.generator), ['email']);
      assert.notEqual(await a.catalog.contentHash('people'), await b.catalog.contentHash('people'));
      assert.notEqual(await a.catalog.contentHash('people'), await plain.catalog.contentHash('people'));
      assert.equal(await plain.catalog.contentHash('people'), await described.catalog.contentHash('people'));
    } finally { for (const f of [a, b, plain, described]) await rm(f.dir, { recursive: true, force: true }); }
  });

  it('when the shipped customers dataset is read, then its rules parse', async () => {
    const d = await new DatasetCatalog(path.join(import.meta.dirname, '..', '..', 'seed-data')).get('customers');
    assert.ok(d.mask && d.mask.rules.length >= 8);
    assert.ok(d.mask.rules.some((r) => r.table === 'orders' && r.column === 'customer_email' && r.generator === 'email'));
  });
});

describe('mask rules against the loaded tables', () => {
  it('when a rule names a column that does not exist, then the error names the dataset, the rule and the table\'s columns', () => {
    rejects(() => checkRules('customers', def({ mask: { 'customers.emial': 'email' } }), COLUMNS), 'MASK_RULE_INVALID',
      /dataset "customers"/, /mask rule "customers\.emial"/, /no column "emial"/, /id, email, notes, prefs/, /nothing was built/);
    rejects(() => checkRules('customers', def({ mask: { 'clients.email': 'email' } }), COLUMNS), 'MASK_RULE_INVALID', /no table clients/);
    rejects(() => checkRules('customers', def({ allow: ['orders.note'] }), COLUMNS), 'MASK_RULE_INVALID', /allow: orders\.note/, /no column "note"/);
  });

  it('when a rule names a number or a materialized view, then it is refused: the generators write text into tables', () => {
    rejects(() => checkRules('customers', def({ mask: { 'orders.total_cents': 'digits' } }), COLUMNS), 'MASK_RULE_INVALID', /integer/);
    rejects(() => checkRules('customers', def({ mask: { 'emails_mv.email': 'email' } }), COLUMNS), 'MASK_RULE_INVALID', /materialized view/);
  });

  it('when every rule fits, then the leak gate reads each other textual column outside the allow-list', () => {
    const d = def({ mask: { 'customers.email': 'email' }, allow: ['audit.*', 'orders.status'] });
    checkRules('customers', d, COLUMNS);
    assert.deepEqual(gateColumns(d, COLUMNS).map((c) => `${c.table}.${c.column}`), ['customers.notes', 'customers.prefs', 'orders.customer_email', 'emails_mv.email']);
  });
});

describe('the leak gate\'s verdict', () => {
  it('when an unmasked column holds e-mails, phones or cards, then the failure names table.column and counts, never a value', () => {
    const message = leakProblems('customers', [
      ['same', 'public.customers.email', '0', '10000'],
      ['leak', 'public.orders.customer_email', '29000', '0', '0'],
      ['leak', 'public.customers.notes', '0', '2500', '3'],
      ['leak', 'public.orders.status', '0', '0', '0'],
    ])!;
    assert.match(message, /dataset "customers" would leak/);
    assert.match(message, /public\.orders\.customer_email is not masked and holds e-mail addresses in 29000 rows/);
    assert.match(message, /public\.customers\.notes is not masked and holds phone numbers in 2500 rows, card numbers with a valid check digit in 3 rows/);
    assert.doesNotMatch(message, /orders\.status/);
    assert.doesNotMatch(message, /@/, 'no e-mail address in the message');
  });

  it('when a masked value equals its source, then the build fails naming the column', () => {
    assert.match(leakProblems('customers', [['same', 'public.customers.email', '2', '10000']])!, /public\.customers\.email: 2 of 10000 masked values equal their source/);
    assert.equal(leakProblems('customers', [['same', 'public.customers.email', '0', '10000'], ['leak', 'public.orders.status', '0', '0', '0']]), undefined);
  });
});

describe('the WAL segments removed after masking', () => {
  it('when segments were made ahead, then those after the current one go first, and every other one at the end', () => {
    const names = ['000000010000000000000009', '00000001000000000000000A', '00000001000000000000000B', '00000001000000000000000C', 'archive_status', '00000002.history'];
    assert.deepEqual(staleSegments(names, '00000001000000000000000A', 'after'), ['00000001000000000000000B', '00000001000000000000000C']);
    assert.deepEqual(staleSegments(names, '00000001000000000000000B', 'all-but'), ['000000010000000000000009', '00000001000000000000000A', '00000001000000000000000C']);
  });
});

describe('applying a mask through the database port (a fake exec)', () => {
  function fakeExec(answers: { gate?: string }): { exec: Exec; calls: string[] } {
    const calls: string[] = [];
    const exec: Exec = async (cmd, input) => {
      const sql = input ? (await (input as Readable).toArray()).map(String).join('') : '';
      const what = cmd[0] === 'rm' ? 'rm' : sql.includes('FROM pg_attribute') ? 'columns' : sql.includes('CREATE SCHEMA') ? 'install'
        : sql.includes('UPDATE') ? 'mask' : sql.includes("'leak'") ? 'gate' : sql.includes('VACUUM FULL') ? 'scrub' : sql.includes('pg_ls_waldir') ? 'waldir'
          : sql.includes('pg_switch_wal') ? 'switch' : 'other';
      calls.push(what);
      const out: Record<string, string> = {
        columns: COLUMNS.map((c) => [c.schema, c.table, c.column, c.category, c.type, c.maxLength, c.kind, c.textual].join('\t')).join('\n'),
        mask: 'same\tpublic.customers.email\t0\t3\n',
        gate: answers.gate ?? '',
        scrub: 'wal\t/data\t00000001000000000000000A\n',
        switch: 'wal\t/data\t00000001000000000000000B\n',
        waldir: '00000001000000000000000A\n00000001000000000000000B\n00000001000000000000000C\n',
      };
      return { exitCode: 0, output: out[what] ?? '' };
    };
    return { exec, calls };
  }
  const rules = def({ mask: { 'customers.email': 'email', 'orders.customer_email': 'email' }, allow: ['audit.*', 'emails_mv.*', 'customers.prefs', 'orders.status'] });

  it('when the rules fit and nothing leaks, then it masks, gates, rewrites and removes the WAL, in that order', async () => {
    const { exec, calls } = fakeExec({ gate: 'leak\tpublic.customers.notes\t0\t0\t0\n' });
    const report = await applyMask(exec, { user: 'shop', name: 'shop' }, 'customers', rules);
    assert.deepEqual(calls, ['columns', 'install', 'mask', 'gate', 'scrub', 'waldir', 'rm', 'switch', 'waldir', 'rm', 'other']);
    assert.deepEqual(report.masked, { 'public.customers.email': 3 });
    assert.equal(report.scanned, 1);
  });

  it('when a rule names a column that does not exist, then nothing is run in the database but reading its tables', async () => {
    const { exec, calls } = fakeExec({});
    await assert.rejects(applyMask(exec, { user: 'shop', name: 'shop' }, 'customers', def({ mask: { 'customers.emial': 'email' } })), (err: MayflyError) => err.code === 'MASK_RULE_INVALID');
    assert.deepEqual(calls, ['columns']);
  });

  it('when the gate finds a leak, then the build fails before anything is rewritten', async () => {
    const { exec, calls } = fakeExec({ gate: 'leak\tpublic.customers.notes\t12\t0\t0\n' });
    await assert.rejects(applyMask(exec, { user: 'shop', name: 'shop' }, 'customers', rules), (err: MayflyError) => err.code === 'MASK_LEAK' && /customers\.notes/.test(err.message));
    assert.deepEqual(calls, ['columns', 'install', 'mask', 'gate']);
  });
});
