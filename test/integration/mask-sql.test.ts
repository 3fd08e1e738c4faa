/**
 * The generators and detectors of masked seeds (worker/seeds/mask-sql.ts) are SQL: run here on the
 * shared PostgreSQL, in a database of this file's own. The whole golden build with them runs in
 * seeds-masked.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { installSql } from '../../worker/seeds/mask-sql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

describe('mask generators and personal-data detectors in PostgreSQL', () => {
  let database: TestDatabase;
  let db: pg.Client;
  const one = async <T = unknown>(sql: string, params: unknown[] = []): Promise<T> => (await db.query(sql, params)).rows[0].v as T;
  const mask = (gen: string, v: string | null, seed = 'seed-1') => one<string | null>('SELECT mayfly_mask.mask($1, $2, $3) AS v', [gen, v, seed]);

  before(async () => {
    database = await createTestDatabase('mayfly_test_mask');
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    await db.query(installSql());
  });
  after(async () => {
    await db?.end();
    await database?.drop();
  });

  it('when the same value is masked with the same seed, then it gets the same mask; another seed or value gets another', async () => {
    for (const gen of ['name', 'email', 'phone', 'address', 'text', 'digits']) {
      const v = 'Ada Lovelace, ada@analytical.org, +44 20 7946 0958';
      assert.equal(await mask(gen, v), await mask(gen, v), gen);
      assert.notEqual(await mask(gen, v), await mask(gen, v, 'seed-2'), gen);
      assert.notEqual(await mask(gen, v), await mask(gen, `${v}.`), gen);
    }
  });

  it('when NULL or empty values are masked, then they stay NULL and empty', async () => {
    for (const gen of ['name', 'email', 'phone', 'address', 'text', 'digits']) {
      assert.equal(await mask(gen, null), null);
      assert.equal(await mask(gen, ''), '');
    }
  });

  it('when 10,000 distinct e-mails are masked, then each gets a distinct address at example.com and none equals its source', async () => {
    const r = (await db.query(`SELECT count(DISTINCT m) AS distinct, count(*) FILTER (WHERE m = v) AS same, count(*) FILTER (WHERE m !~ '^[a-z]+\\.[0-9a-f]{16}@example\\.com$') AS odd
      FROM (SELECT v, mayfly_mask.mask('email', v, 's') m FROM (SELECT 'person' || i || '@corp.test' v FROM generate_series(1, 10000) i) s) t`)).rows[0];
    assert.deepEqual({ distinct: Number(r.distinct), same: Number(r.same), odd: Number(r.odd) }, { distinct: 10000, same: 0, odd: 0 });
  });

  it('when phones and numbers are masked, then they keep their layout (digits for digits, letters for letters of the same case)', async () => {
    const shape = (s: string) => s.replace(/[0-9]/g, '9').replace(/[a-z]/g, 'a').replace(/[A-Z]/g, 'A');
    for (const v of ['+1 (555) 123-4567', '020 7946 0958', '4111 1111 1111 1111']) {
      const m = (await mask('phone', v))!;
      assert.equal(shape(m), shape(v), `${v} -> ${m}`);
      assert.notEqual(m, v);
    }
    for (const v of ['4111-1111-1111-1111', 'DE89 3704 0044 0532 0130 00', 'AB-12cd']) {
      const m = (await mask('digits', v))!;
      assert.equal(shape(m), shape(v), `${v} -> ${m}`);
      assert.notEqual(m, v);
    }
    assert.match((await mask('phone', 'n/a'))!, /^555-01[0-9]{2}$/, 'a phone without digits becomes a fictional one');
  });

  it('when names, addresses and free text are masked, then they look the part and text keeps its word count', async () => {
    assert.match((await mask('name', 'Grace Hopper'))!, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    assert.match((await mask('address', '1 Infinite Loop, Cupertino'))!, /^[0-9]+ [A-Z][a-z]+ [A-Z][a-z]+, [A-Z][A-Za-z ]+$/);
    const text = 'Call me on 555-123-4567 or write to grace@navy.mil before noon';
    const masked = (await mask('text', text))!;
    assert.equal(masked.split(' ').length, text.split(' ').length);
    assert.doesNotMatch(masked, /[0-9@]/);
  });

  it('when numbers are checked with Luhn, then valid card numbers of 13 to 19 digits pass and others do not', async () => {
    const luhn = (d: string) => one<boolean>('SELECT mayfly_mask.luhn($1) AS v', [d]);
    for (const d of ['4111111111111111', '378282246310005', '6011111111111117', '5555555555554444', '4222222222222']) assert.equal(await luhn(d), true, d);
    for (const d of ['4111111111111112', '79927398713', '0000000000000000', '41111111111111111111', '4111x11111111111']) assert.equal(await luhn(d), false, d);
  });

  it('when values are scanned, then card numbers (spaced or dashed), phones and e-mails are found, and look-alikes are not', async () => {
    const has = (fn: string, v: string) => one<boolean>(`SELECT mayfly_mask.${fn}($1) AS v`, [v]);
    const cases: [string, string, boolean][] = [
      ['has_card', 'paid with 4111 1111 1111 1111 today', true],
      ['has_card', '4111-1111-1111-1111', true],
      ['has_card', '378282246310005', true],
      ['has_card', 'order 4111111111111112', false],
      ['has_card', 'id 41111111111111112222', false],
      ['has_card', 'total 1234', false],
      ['has_phone', 'call 555-123-4567', true],
      ['has_phone', '(555) 123 4567', true],
      ['has_phone', '+1 555.123.4567', true],
      ['has_phone', '+44 20 7946 0958', true],
      ['has_phone', 'shipped 2024-01-15', false],
      ['has_phone', 'order 12345678901', false],
      ['has_phone', 'v1.2.3', false],
      ['has_email', 'write to ada@analytical.org', true],
      ['has_email', 'x.y+tag@sub.example.co.uk', true],
      ['has_email', 'not @ an address', false],
      ['has_email', 'user@localhost', false],
    ];
    for (const [fn, v, expected] of cases) assert.equal(await has(fn, v), expected, `${fn}(${v})`);
  });
});
