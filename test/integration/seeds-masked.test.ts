/**
 * Masked seeds on real engines (issue 17, item 4): the generated dataset seed-data/customers
 * (10,000 customers with orders) masked in the golden build, cloned into environments. No source
 * e-mail in any clone (not in its tables, not in any file of its data directory), joins intact,
 * rebuilds identical; the leak gate fails a dataset that leaves an e-mail column unmasked; a rule
 * for a column that does not exist is refused. Under the restore strategy each environment's own
 * database is masked the same way. (A 300 s health timeout: the shop web app starts slowly on a busy host.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { projectRoot } from '../../core/config/config.js';
import { LABEL_GOLDEN } from '../../core/domain/names.js';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { destroyed, psql } from '../helpers/seed-checks.js';

/** The first customers' e-mails as 01-customers.sql writes them. */
const KNOWN = ['ezra.lopez1@gmail.com', 'amelia.allen2@outlook.com', 'lucas.miller3@proton.me'];
const DATASET_YML = path.join(projectRoot(), 'seed-data', 'customers', 'dataset.yml');

/** seed-data/customers, and variants of it that differ only in their dataset.yml, in a temporary seeds folder; a template that accepts them. */
async function folders(variants: Record<string, string>): Promise<{ seedsDir: string; templatesDir: string }> {
  const seedsDir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-masked-seeds-'));
  await cp(path.join(projectRoot(), 'seed-data', 'demo'), path.join(seedsDir, 'demo'), { recursive: true });
  for (const [name, yml] of Object.entries({ customers: undefined, ...variants })) {
    await cp(path.join(projectRoot(), 'seed-data', 'customers'), path.join(seedsDir, name), { recursive: true });
    if (yml !== undefined) await writeFile(path.join(seedsDir, name, 'dataset.yml'), yml);
  }
  const templatesDir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-masked-templates-'));
  await cp(path.join(projectRoot(), 'templates', 'shop'), path.join(templatesDir, 'shop'), { recursive: true });
  const meta = path.join(templatesDir, 'shop', 'template.yml');
  const names = ['demo', 'customers', ...Object.keys(variants)];
  await writeFile(meta, (await readFile(meta, 'utf8')).replace('allowed: [demo]', `allowed: [${names.join(', ')}]`));
  return { seedsDir, templatesDir };
}

/** The dataset as loaded, unmasked: its SQL run in a schema of the harness's own database. */
async function source(h: Harness): Promise<{ emails: string[]; fingerprint: (sql: string) => Promise<string> }> {
  const c = await h.pool.connect();
  try {
    await c.query('CREATE SCHEMA src; SET search_path = src');
    await c.query(await readFile(path.join(projectRoot(), 'seed-data', 'customers', '01-customers.sql'), 'utf8'));
    await c.query('RESET search_path');
  } finally { c.release(); }
  const emails = (await h.pool.query('SELECT email FROM src.customers ORDER BY id')).rows.map((r) => r.email as string);
  return {
    emails,
    fingerprint: async (sql) => {
      const client = await h.pool.connect();
      try {
        await client.query('SET search_path = src');
        return String((await client.query(sql)).rows[0].v);
      } finally { await client.query('RESET search_path'); client.release(); }
    },
  };
}

/** Deploys and polls until ready or failed: a golden build of 10,000 customers on a busy host can outlast an HTTP answer's timeout. */
async function deploy(h: Harness, name: string, seed: string): Promise<any> {
  const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', seed });
  assert.ok([200, 202].includes(res.status), JSON.stringify(res.body));
  let body: any;
  await waitUntil(`${name} to be ready or failed`, 900_000, async () => {
    body = (await h.api('GET', `/api/v1/environments/${name}`)).body;
    return ['ready', 'failed'].includes(body.status);
  });
  return body;
}

function ref(env: { id: string; project: string; generation: number }) {
  return { id: env.id, project: env.project, generation: env.generation };
}

/** The files of an environment's data directory that hold any of `needles` (grep -F, read as bytes). */
async function filesHolding(h: Harness, envId: string, needles: string[]): Promise<string[]> {
  const env = (await h.store.getById(envId))!;
  const { exitCode, output } = await h.runtime.exec(ref(env), 'db', ['sh', '-c', 'grep -rlaF -f /dev/stdin "$PGDATA"; test $? -le 1'], Readable.from([needles.join('\n') + '\n']));
  assert.equal(exitCode, 0, output);
  return output.split('\n').filter(Boolean);
}

// Checks that read the same in the source and in a masked clone (the columns no rule masks, and the joins).
const JOINS = `SELECT count(*) || ':' || md5(string_agg(c.id || '=' || n, ',' ORDER BY c.id)) AS v
  FROM customers c JOIN (SELECT customer_email, count(*) n FROM orders GROUP BY customer_email) o ON o.customer_email = c.email`;
const JOIN_ALL = `SELECT count(*) AS v FROM orders o JOIN customers c ON c.email = o.customer_email AND c.id = o.customer_id AND c.address = o.shipping_address`;
const UNMASKED = `SELECT md5(string_agg(id || ',' || customer_id || ',' || status || ',' || total_cents || ',' || warehouse_phone, ';' ORDER BY id)) AS v FROM orders`;
// Everything in the masked tables, for comparing two builds.
const ALL = `SELECT md5((SELECT string_agg(c::text, ';' ORDER BY id) FROM customers c) || '|' || (SELECT string_agg(o::text, ';' ORDER BY id) FROM orders o)) AS v`;

describe('masked seeds: the customers dataset cloned from its golden', () => {
  let h: Harness;
  let dirs: { seedsDir: string; templatesDir: string };
  let src: Awaited<ReturnType<typeof source>>;
  let base: string;
  before(async () => {
    base = await readFile(DATASET_YML, 'utf8');
    dirs = await folders({
      // orders.customer_email left unmasked: the leak gate must stop it.
      'customers-leak': base.replace(/^ {2}orders\.customer_email: email\n/m, ''),
      'customers-typo': base.replace('customers.email: email', 'customers.emial: email'),
      'customers-badgen': base.replace('customers.email: email', 'customers.email: scramble'),
    });
    h = await startHarness({ env: { MAYFLY_SEEDS_DIR: dirs.seedsDir, MAYFLY_TEMPLATES_DIR: dirs.templatesDir, MAYFLY_HEALTH_TIMEOUT: '300s' } });
    src = await source(h);
  });
  after(async () => {
    await h?.close();
    for (const d of Object.values(dirs ?? {})) await rm(d, { recursive: true, force: true });
  });

  it('when an environment starts from the masked dataset, then no source e-mail is in its tables or its files, and joins and unmasked columns are intact', async () => {
    assert.notEqual(base.match(/orders\.customer_email: email/), null, 'the variants below are made from these lines');
    assert.equal(src.emails.length, 10_000);
    assert.deepEqual(src.emails.slice(0, 3), KNOWN, 'the restore test below looks for these');
    const env = await deploy(h, uniqueName('masked'), 'customers');
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));

    const cloneEmails = new Set((await psql(h, env.id, 'SELECT email FROM customers UNION ALL SELECT customer_email FROM orders')).split('\n'));
    assert.equal(src.emails.filter((e) => cloneEmails.has(e)).length, 0, 'no source e-mail in customers.email or orders.customer_email');
    const notes = await psql(h, env.id, `SELECT count(*) FROM customers WHERE notes ~ '@|[0-9]'`);
    assert.equal(notes, '0', 'the free-text notes (which named e-mails and phones) are masked');
    assert.equal(await psql(h, env.id, `SELECT count(*) FROM customers WHERE email !~ '@example\\.com$'`), '0');

    // Not in any file of the data directory either: not in old row versions, indexes, statistics or the WAL.
    const leaked = await filesHolding(h, env.id, src.emails);
    assert.deepEqual(leaked, [], 'no file of the clone holds a source e-mail');
    const sample = (await psql(h, env.id, 'SELECT email FROM customers ORDER BY id LIMIT 20')).split('\n');
    assert.ok((await filesHolding(h, env.id, sample)).length > 0, 'the same search finds the masked e-mails (it reads the files)');

    assert.equal(await psql(h, env.id, JOINS), await src.fingerprint(JOINS), 'orders per customer, joined on the masked e-mail, as in the source');
    assert.equal(await psql(h, env.id, JOIN_ALL), '30000', 'every order still joins its customer by id, e-mail and address');
    assert.equal(await psql(h, env.id, UNMASKED), await src.fingerprint(UNMASKED), 'columns no rule names are unchanged');
    assert.equal(await psql(h, env.id, 'SELECT count(*) FROM products'), '12');
    await destroyed(h, env.name);
  });

  it('when the golden is built again, then its masked tables are identical', async () => {
    const first = await deploy(h, uniqueName('build1'), 'customers');
    assert.equal(first.status, 'ready', JSON.stringify(first.failure));
    const key = first.database.snapshot as string;
    const before = await psql(h, first.id, ALL);
    // Forget the golden: the next environment builds it again from the files.
    const { volume } = (await h.ctx.snapshots.get(key))!;
    await h.pool.query(`UPDATE seed_snapshots SET status = 'failed' WHERE key = $1`, [key]);
    const second = await deploy(h, uniqueName('build2'), 'customers');
    assert.equal(second.status, 'ready', JSON.stringify(second.failure));
    const rebuilt = (await h.store.events(second.id)).some((e) => e.type === 'cloned' && (e.data as { builtGolden?: boolean })?.builtGolden);
    assert.ok(rebuilt, 'the second environment built the golden again');
    assert.equal(second.database.snapshot, key, 'same files, same rules: the same key');
    assert.equal((await h.ctx.snapshots.get(key))!.volume, volume);
    assert.equal(await psql(h, second.id, ALL), before, 'the rebuilt masked tables are byte for byte the first build\'s');
    await destroyed(h, first.name);
    await destroyed(h, second.name);
  });

  it('when a dataset leaves an e-mail column unmasked, then the leak gate fails the build, naming the column and a count but no value, and no golden is left', async () => {
    const env = await deploy(h, uniqueName('leak'), 'customers-leak');
    assert.equal(env.status, 'failed');
    assert.equal(env.failure.code, 'MASK_LEAK');
    assert.match(env.failure.message, /dataset "customers-leak"/);
    assert.match(env.failure.message, /public\.orders\.customer_email is not masked and holds e-mail addresses in 30000 rows/);
    assert.doesNotMatch(env.failure.message, /@/, 'no address in the message');
    await assertNoGolden(h, 'customers-leak');
  });

  it('when a mask rule names a column that does not exist, then the environment fails naming the dataset and the rule, and nothing is built', async () => {
    const env = await deploy(h, uniqueName('typo'), 'customers-typo');
    assert.equal(env.status, 'failed');
    assert.equal(env.failure.code, 'MASK_RULE_INVALID');
    assert.match(env.failure.message, /dataset "customers-typo": mask rule "customers\.emial": table customers has no column "emial" \(its columns: id, name, email/);
    await assertNoGolden(h, 'customers-typo');
  });

  it('when a mask rule names no known generator, then the deploy is refused when asked for, naming the field seed and the rule, and nothing is stored', async () => {
    const name = uniqueName('badgen');
    const res = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', seed: 'customers-badgen' });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'INVALID_REQUEST');
    assert.equal(res.body.error.details.length, 1);
    assert.equal(res.body.error.details[0].field, 'seed');
    assert.match(res.body.error.details[0].message, /dataset "customers-badgen": mask\.customers\.email names no generator.*"scramble"/);
    assert.equal(await h.store.getByName(name), undefined, 'no environment was recorded');
    const { rows } = await h.pool.query(`SELECT count(*)::int AS n FROM seed_snapshots WHERE dataset = 'customers-badgen'`);
    assert.equal(rows[0].n, 0, 'no build was begun');
  });
});

/** No golden volume of the dataset exists (its failed build removed it), and none is recorded ready (failed, or removed by the reconciler since). */
async function assertNoGolden(h: Harness, dataset: string): Promise<void> {
  const { rows } = await h.pool.query(`SELECT key, status FROM seed_snapshots WHERE dataset = $1`, [dataset]);
  assert.ok(rows.length > 0 && rows.every((r) => ['failed', 'removed'].includes(r.status)), JSON.stringify(rows));
  for (const r of rows) {
    const volumes = (await h.docker.listVolumes({ filters: { label: [`${LABEL_GOLDEN}=${r.key}`] } })).Volumes ?? [];
    assert.deepEqual(volumes.map((v) => v.Name), [], `the golden volume of ${dataset} is gone`);
  }
}

describe('masked seeds under the restore strategy', () => {
  let h: Harness;
  let dirs: { seedsDir: string; templatesDir: string };
  before(async () => {
    dirs = await folders({});
    h = await startHarness({ env: { MAYFLY_SEEDS_DIR: dirs.seedsDir, MAYFLY_TEMPLATES_DIR: dirs.templatesDir, MAYFLY_HEALTH_TIMEOUT: '300s', MAYFLY_CLONE_STRATEGY: 'restore' } });
  });
  after(async () => {
    await h?.close();
    for (const d of Object.values(dirs ?? {})) await rm(d, { recursive: true, force: true });
  });

  it('when the dataset is restored into the environment\'s own database, then it is masked there before the environment is ready', async () => {
    const env = await deploy(h, uniqueName('restored'), 'customers');
    assert.equal(env.status, 'ready', JSON.stringify(env.failure));
    assert.equal(env.database.strategy, 'restore');
    assert.equal(await psql(h, env.id, `SELECT count(*) FROM customers WHERE email IN (${KNOWN.map((e) => `'${e}'`).join(',')})`), '0');
    assert.equal(await psql(h, env.id, `SELECT count(*) FROM customers WHERE email ~ '@example\\.com$'`), '10000');
    assert.deepEqual(await filesHolding(h, env.id, KNOWN), [], 'nor in any file of its data directory');
    await destroyed(h, env.name);
  });
});
