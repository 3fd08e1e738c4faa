/**
 * The process's PostgreSQL pool (core/store/pool.ts) when a connection dies while it is checked
 * out: a lock holder or a transaction between two statements. Real PostgreSQL; the backend is
 * ended from another connection, as a restart of PostgreSQL does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openDatabase } from '../../core/store/pool.js';
import { createLogger } from '../../core/platform/log.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.js';

describe('the PostgreSQL pool', () => {
  let db: TestDatabase;
  before(async () => { db = await createTestDatabase('pool'); });
  after(async () => { await db?.drop(); });

  it('when a checked-out connection is cut between two statements, then the process lives on, that client fails, and the pool answers the next query', async () => {
    const pool = await openDatabase(db.url, createLogger('silent', 'test'), { size: 2 });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const held = await pool.connect();
      const { rows } = await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // No listener of the test's own: an 'error' nobody listens to ends the process (the worker's
      // crash when PostgreSQL restarted), and with it this test file.
      assert.ok(held.listenerCount('error') >= 1, 'the pool listens for errors on a client it handed out');
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await new Promise((r) => setTimeout(r, 1000));
      await assert.rejects(held.query('SELECT 1'), 'that client is gone');
      held.release(true);
      assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await admin.end();
      await pool.end();
    }
  });
});
