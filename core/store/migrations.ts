import type pg from 'pg';

/**
 * Schema migrations, applied in order at start by both processes. Each runs once, in a
 * transaction, under an advisory lock, so two processes starting together do not race.
 * Never edit a migration that has landed: add a new one.
 */
export const MIGRATIONS: { id: number; name: string; sql: string }[] = [
  {
    id: 1,
    name: 'environments and events',
    sql: `
      CREATE TABLE environments (
        id              uuid PRIMARY KEY,
        name            text NOT NULL,
        template        text NOT NULL,
        status          text NOT NULL CHECK (status IN ('queued','provisioning','ready','failed','destroying','destroyed')),
        owner           text NOT NULL,
        images          jsonb NOT NULL,
        digests         jsonb NOT NULL DEFAULT '{}',
        seed            text,
        ttl_seconds     integer NOT NULL CHECK (ttl_seconds > 0),
        expires_at      timestamptz NOT NULL,
        generation      integer NOT NULL DEFAULT 1,
        project         text NOT NULL,
        urls            jsonb NOT NULL DEFAULT '{}',
        failure_code    text,
        failure_message text,
        destroy_reason  text,
        destroyed_by    text,
        seeded_at       timestamptz,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        ready_at        timestamptz,
        destroyed_at    timestamptz
      );
      -- One live environment per name; destroyed ones keep their history.
      CREATE UNIQUE INDEX environments_live_name ON environments (name) WHERE status <> 'destroyed';
      CREATE INDEX environments_expiry ON environments (expires_at) WHERE status IN ('queued','provisioning','ready','failed');
      CREATE INDEX environments_status ON environments (status);

      CREATE TABLE environment_events (
        id             bigserial PRIMARY KEY,
        environment_id uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
        at             timestamptz NOT NULL DEFAULT clock_timestamp(),
        type           text NOT NULL,
        status         text,
        message        text NOT NULL,
        data           jsonb
      );
      CREATE INDEX environment_events_env ON environment_events (environment_id, id);
    `,
  },
  {
    id: 2,
    name: 'seed snapshots',
    sql: `
      -- One golden data directory per (dataset content, database image digest, settings) key.
      CREATE TABLE seed_snapshots (
        key           text PRIMARY KEY,
        dataset       text NOT NULL,
        kind          text NOT NULL DEFAULT 'dataset' CHECK (kind IN ('dataset', 'saved')),
        template      text,
        content_hash  text NOT NULL,
        image         text NOT NULL,
        image_digest  text NOT NULL,
        volume        text NOT NULL,
        status        text NOT NULL CHECK (status IN ('building', 'ready', 'failed', 'removed')),
        size_bytes    bigint,
        build_ms      integer,
        error         text,
        source_env    uuid,
        created_by    text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        ready_at      timestamptz,
        last_used_at  timestamptz
      );
      CREATE INDEX seed_snapshots_dataset ON seed_snapshots (dataset, created_at DESC);
      ALTER TABLE environments ADD COLUMN snapshot_key text, ADD COLUMN clone_strategy text;
      -- Facts a worker learned about its Docker host (the clone strategies that work there).
      CREATE TABLE host_facts (
        key        text PRIMARY KEY,
        value      jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

const LOCK_KEY = 7_261_432_001; // arbitrary, constant: "mayfly migrations"

export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations');
    const done = new Set(rows.map((r) => r.id));
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
        await client.query('COMMIT');
        applied.push(m.id);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.id} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
