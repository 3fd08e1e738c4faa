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
  {
    id: 3,
    name: 'doors, leases and notifications',
    sql: `
      ALTER TABLE environments
        ADD COLUMN door text NOT NULL DEFAULT 'api' CHECK (door IN ('api','slack','github','cli','web')),
        ADD COLUMN callback_url text,
        -- The name of the secret that signs its callbacks (never the secret itself).
        ADD COLUMN callback_secret_ref text,
        ADD COLUMN slack_response_url text,
        ADD COLUMN slack_channel text,
        ADD COLUMN slack_user text,
        ADD COLUMN expiry_warned_at timestamptz,
        -- The expires_at that was warned about: an extended lease is warned about again.
        ADD COLUMN expiry_warned_for timestamptz;

      -- Who hears about an environment's events, through which door, and how far they have heard.
      CREATE TABLE notification_subscriptions (
        id              bigserial PRIMARY KEY,
        environment_id  uuid NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
        kind            text NOT NULL CHECK (kind IN ('callback','slack','github')),
        target          text NOT NULL,
        data            jsonb NOT NULL DEFAULT '{}',
        cursor          bigint NOT NULL DEFAULT 0,
        sent            integer NOT NULL DEFAULT 0,
        max_sends       integer,
        valid_until     timestamptz,
        active          boolean NOT NULL DEFAULT true,
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        locked_until    timestamptz,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX notification_subscriptions_active ON notification_subscriptions (next_attempt_at) WHERE active;
      CREATE UNIQUE INDEX notification_subscriptions_target ON notification_subscriptions (environment_id, kind, target) WHERE active;

      -- One row per event delivered (or given up) per subscription: what happened, for the record.
      CREATE TABLE notification_deliveries (
        subscription_id bigint NOT NULL REFERENCES notification_subscriptions (id) ON DELETE CASCADE,
        event_id        bigint NOT NULL,
        delivery_id     text NOT NULL,
        event_type      text NOT NULL,
        outcome         text NOT NULL CHECK (outcome IN ('delivered','gave-up','skipped')),
        attempts        integer NOT NULL,
        detail          text,
        at              timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subscription_id, event_id)
      );

      -- GitHub deliveries seen (X-GitHub-Delivery), so a replay does nothing.
      CREATE TABLE github_deliveries (
        delivery_id text PRIMARY KEY,
        event       text NOT NULL,
        action      text,
        outcome     text,
        received_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    id: 4,
    name: 'environment teams',
    sql: `
      -- The team of the principal that created it (MAYFLY_TEAMS): only that team or an admin may
      -- extend, reset, destroy or redeploy it. Environments from before teams belong to "default".
      ALTER TABLE environments ADD COLUMN team text NOT NULL DEFAULT 'default';
      CREATE INDEX environments_team ON environments (team) WHERE status <> 'destroyed';
    `,
  },
  {
    id: 5,
    name: 'router endpoints, activity and sleeping',
    sql: `
      -- Internal targets of the router (service -> 127.0.0.1:<host port>), kept apart from the
      -- public urls (the router's address), and the last traffic through the router.
      ALTER TABLE environments
        ADD COLUMN endpoints jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN last_activity_at timestamptz;
      -- Environments from before the router: their urls were the direct 127.0.0.1 addresses,
      -- which are also the router's targets (their urls stay direct until their next deploy).
      UPDATE environments e SET endpoints = t.endpoints
        FROM (SELECT id, jsonb_object_agg(u.key, substring(u.value FROM '^https?://[^/]+:([0-9]+)') ) AS ports
                FROM environments, jsonb_each_text(urls) AS u(key, value) GROUP BY id) p,
             LATERAL (SELECT jsonb_object_agg(k, '127.0.0.1:' || v) AS endpoints FROM jsonb_each_text(p.ports) AS x(k, v) WHERE v IS NOT NULL) t
        WHERE e.id = p.id AND t.endpoints IS NOT NULL AND e.status <> 'destroyed';
      ALTER TABLE environments DROP CONSTRAINT IF EXISTS environments_status_check;
      ALTER TABLE environments ADD CONSTRAINT environments_status_check
        CHECK (status IN ('queued','provisioning','ready','sleeping','failed','destroying','destroyed'));
      -- Sleeping does not stop the lease: a sleeping environment expires like a ready one.
      DROP INDEX IF EXISTS environments_expiry;
      CREATE INDEX environments_expiry ON environments (expires_at) WHERE status IN ('queued','provisioning','ready','sleeping','failed');
      CREATE INDEX environments_idle ON environments (template, last_activity_at) WHERE status = 'ready';
    `,
  },
  {
    id: 6,
    name: 'admission: capacity, the line and its order',
    sql: `
      -- holds_capacity: the environment counts against the limits (set by admission, under its
      -- advisory lock, in the transaction that moves it to provisioning). queued_at: its place in
      -- line. waiting_reason: why it waits (null when it does not).
      ALTER TABLE environments
        ADD COLUMN holds_capacity boolean NOT NULL DEFAULT false,
        ADD COLUMN admitted_at    timestamptz,
        ADD COLUMN queued_at      timestamptz,
        ADD COLUMN waiting_reason text;
      UPDATE environments SET holds_capacity = true, admitted_at = COALESCE(ready_at, updated_at)
        WHERE status IN ('provisioning', 'ready', 'destroying');
      UPDATE environments SET queued_at = updated_at WHERE status = 'queued';
      CREATE INDEX environments_line ON environments (queued_at, id) WHERE status = 'queued';

      -- Kept here, not in every code path that moves an environment: a failed environment's objects
      -- are removed and a destroyed one has none, so both give their capacity back; entering
      -- queued from another status takes the last place in line; leaving it ends the wait.
      CREATE OR REPLACE FUNCTION mayfly_admission_bookkeeping() RETURNS trigger AS $$
      BEGIN
        IF NEW.status IN ('failed', 'destroyed') THEN
          NEW.holds_capacity := false;
        END IF;
        IF NEW.status = 'queued' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'queued') THEN
          NEW.queued_at := clock_timestamp();
        END IF;
        IF NEW.status <> 'queued' THEN
          NEW.waiting_reason := NULL;
        END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql;
      CREATE TRIGGER environments_admission BEFORE INSERT OR UPDATE OF status ON environments
        FOR EACH ROW EXECUTE FUNCTION mayfly_admission_bookkeeping();
    `,
  },
  {
    id: 8,
    name: 'environment change notifications',
    sql: `
      -- Every committed change to environments notifies listeners (the web process's list
      -- cache, core/store/change-feed.ts). Per statement, not per row: one notice per write.
      CREATE FUNCTION mayfly_environments_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('mayfly_environments_changed', '');
        RETURN NULL;
      END $$;
      CREATE TRIGGER environments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON environments
        FOR EACH STATEMENT EXECUTE FUNCTION mayfly_environments_changed();
    `,
  },
  {
    id: 9,
    name: 'job run fencing',
    sql: `
      -- The run of a job that owns the environment now (worker/jobs/fence.ts): each run of a
      -- provisioning or teardown job takes the next number when it starts, and proves it still
      -- holds it (with the generation and the status) before each step that changes the engine,
      -- so a run that outlived its queue lock (a pause, a partition) stands down.
      ALTER TABLE environments ADD COLUMN run_epoch integer NOT NULL DEFAULT 0;
    `,
  },
  {
    id: 10,
    name: 'environment origin',
    sql: `
      -- Where an environment came from, for doors that act on their own: "github:<owner>/<repo>#<pr>".
      -- The GitHub door redeploys and destroys only environments whose origin is that pull request.
      ALTER TABLE environments ADD COLUMN origin text;
    `,
  },
  {
    id: 11,
    name: 'timeline notifications',
    sql: `
      -- A new timeline event notifies listeners (live pages, event streams, ?wait=), on a channel
      -- of its own so that progress lines do not invalidate the list cache.
      CREATE FUNCTION mayfly_events_added() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('mayfly_events_added', '');
        RETURN NULL;
      END $$;
      CREATE TRIGGER events_added AFTER INSERT ON environment_events
        FOR EACH STATEMENT EXECUTE FUNCTION mayfly_events_added();
    `,
  },
  {
    id: 12,
    name: 'environment access',
    sql: `
      -- Who may open the environment's address through the router, when its request chose it
      -- (the PUT body's access); NULL follows its template's access (default signed-in).
      ALTER TABLE environments ADD COLUMN access text CHECK (access IN ('public', 'signed-in', 'team'));
    `,
  },
  {
    id: 13,
    name: 'saved dataset ownership',
    sql: `
      -- A saved dataset belongs to the team of the principal that saved it (created_by): that
      -- team or an admin may delete it, and the team's saved datasets count against its limits.
      -- source_name: the source environment's name, shown after that environment is gone.
      -- 'deleting': deleted (no longer listed or startable); the worker removes its volumes, then 'removed'.
      ALTER TABLE seed_snapshots ADD COLUMN team text, ADD COLUMN source_name text, ADD COLUMN deleted_by text, ADD COLUMN deleted_at timestamptz;
      ALTER TABLE seed_snapshots DROP CONSTRAINT seed_snapshots_status_check;
      ALTER TABLE seed_snapshots ADD CONSTRAINT seed_snapshots_status_check CHECK (status IN ('building', 'ready', 'failed', 'deleting', 'removed'));
      -- Saved before teams were recorded: the team and name of the environment they came from.
      UPDATE seed_snapshots s SET team = e.team, source_name = e.name FROM environments e WHERE s.kind = 'saved' AND s.source_env = e.id;
      UPDATE seed_snapshots SET team = 'default' WHERE kind = 'saved' AND team IS NULL;
      CREATE INDEX seed_snapshots_saved_team ON seed_snapshots (team) WHERE kind = 'saved' AND status IN ('building', 'ready');
    `,
  },
  {
    id: 14,
    name: 'goldens per swarm node',
    sql: `
      -- On a swarm (MAYFLY_RUNTIME=swarm) volumes are node-local: a golden exists per (key, node),
      -- each built there; a clone is made on a node that has it (docs/swarm.md).
      CREATE TABLE seed_snapshot_nodes (
        key        text NOT NULL,
        node       text NOT NULL,
        node_id    text NOT NULL,
        volume     text NOT NULL,
        size_bytes bigint,
        build_ms   integer,
        on_demand  boolean NOT NULL DEFAULT false,
        built_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (key, node)
      );
    `,
  },
  {
    id: 15,
    name: 'audit trail',
    sql: `
      -- Who did what to which environment, from which door, and whether it was allowed (done),
      -- denied (403) or failed (allowed, but refused by the environment's state: a 4xx)
      -- (core/app: every action of the application service records one row).
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        actor_kind text NOT NULL,
        team text NOT NULL,
        door text NOT NULL,
        action text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
        environment_id uuid,
        environment text,
        details jsonb
      );
      CREATE INDEX audit_log_environment ON audit_log (environment, at DESC);
      CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
      CREATE INDEX audit_log_at ON audit_log (at DESC);
    `,
  },
  {
    id: 16,
    name: 'pull request comments, deployments and command replies',
    sql: `
      -- A pull request's live comment and deployment are one subscription per environment and
      -- pull request (kind 'github-pr', target '<owner>/<repo>#<number>'); its data keeps the
      -- comment id, the head commit and the deployment (docs/doors.md).
      ALTER TABLE notification_subscriptions DROP CONSTRAINT IF EXISTS notification_subscriptions_kind_check;
      ALTER TABLE notification_subscriptions ADD CONSTRAINT notification_subscriptions_kind_check
        CHECK (kind IN ('callback','slack','github','github-pr'));

      -- The answers to commands typed in pull request comments (a reaction, and a reply when a
      -- command is refused), written by the webhook and delivered by the worker's notifier.
      CREATE TABLE github_replies (
        id              bigserial PRIMARY KEY,
        repo            text NOT NULL,
        number          integer NOT NULL,
        comment_id      bigint NOT NULL,
        reaction        text NOT NULL CHECK (reaction IN ('+1', 'confused')),
        body            text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        done_at         timestamptz,
        outcome         text,
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        locked_until    timestamptz,
        last_error      text
      );
      CREATE INDEX github_replies_due ON github_replies (next_attempt_at) WHERE done_at IS NULL;
    `,
  },
  {
    id: 17,
    name: 'checkpoints and forks',
    sql: `
      -- Checkpoints of an environment's database (docs/data-workflows.md): taken on request and
      -- before every redeploy, reset and rewind; a bounded number per environment, their volumes
      -- labeled for the environment (they go with it). A rewind names one in restore_from: the
      -- next provisioning clones the database from it instead of the seed.
      CREATE TABLE checkpoints (
        id             text PRIMARY KEY,
        environment_id uuid NOT NULL,
        environment    text NOT NULL,
        generation     integer NOT NULL,
        reason         text NOT NULL CHECK (reason IN ('manual', 'before-redeploy', 'before-reset', 'before-rewind')),
        status         text NOT NULL CHECK (status IN ('pending', 'ready', 'failed', 'removed')),
        volume         text NOT NULL,
        size_bytes     bigint,
        pause_ms       integer,
        error          text,
        created_by     text NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        ready_at       timestamptz
      );
      CREATE INDEX checkpoints_environment ON checkpoints (environment_id, created_at DESC);
      -- A fork (<parent>--<for>) records its parent and its depth (a fork of a fork is 2).
      ALTER TABLE environments ADD COLUMN parent_id uuid, ADD COLUMN fork_depth integer NOT NULL DEFAULT 0,
        ADD COLUMN restore_from text;
      CREATE INDEX environments_parent ON environments (parent_id) WHERE parent_id IS NOT NULL AND status <> 'destroyed';
    `,
  },
  {
    id: 18,
    name: 'environments.node: the swarm node its database is placed on (per-node admission)',
    sql: `
      ALTER TABLE environments ADD COLUMN node text;
      CREATE INDEX environments_node ON environments (node) WHERE holds_capacity;
    `,
  },
  {
    id: 21,
    name: 'warm pool standbys',
    sql: `
      -- Warm pool (templates' pool: in template.yml): standby stacks started and healthy ahead
      -- of requests. A standby's id is the environment id it will have once a request claims it
      -- (its Docker objects are labeled with it), so a claim hands over objects that already
      -- carry the claimant's id. A claim deletes the row in the transaction that creates the
      -- environment. template_hash and snapshot_key tell a stale standby (template changed,
      -- golden rebuilt) from a current one: a stale one is never claimed, and is drained.
      CREATE TABLE pool_standbys (
        id            uuid PRIMARY KEY,
        template      text NOT NULL,
        seed          text,
        project       text NOT NULL,
        template_hash text NOT NULL,
        snapshot_key  text,
        clone_strategy text,
        status        text NOT NULL CHECK (status IN ('starting', 'ready', 'draining')),
        created_at    timestamptz NOT NULL DEFAULT now(),
        ready_at      timestamptz
      );
      CREATE INDEX pool_standbys_claim ON pool_standbys (template, seed, status, ready_at);
      -- Claims (hits) and requests that found no current standby (misses), per template.
      CREATE TABLE pool_counters (
        template text PRIMARY KEY,
        hits     bigint NOT NULL DEFAULT 0,
        misses   bigint NOT NULL DEFAULT 0
      );
    `,
  },
  {
    id: 22,
    name: 'spent sign-in tickets',
    sql: `
      -- The router's one-time sign-in tickets once redeemed, shared by every web process
      -- (core/store/spent-tickets.ts); a row matters only until its ticket's expiry.
      CREATE TABLE spent_tickets (
        id text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      );
    `,
  },
  {
    id: 23,
    name: 'GitLab merge requests: the door and its note',
    sql: `
      -- A GitLab merge request's one note is a subscription like a pull request's comment
      -- (kind 'gitlab-mr', target '<project id>!<iid>'); its data keeps the note id (docs/doors.md).
      ALTER TABLE notification_subscriptions DROP CONSTRAINT IF EXISTS notification_subscriptions_kind_check;
      ALTER TABLE notification_subscriptions ADD CONSTRAINT notification_subscriptions_kind_check
        CHECK (kind IN ('callback','slack','github','github-pr','gitlab-mr'));
      -- Environments made by the GitLab merge request door.
      ALTER TABLE environments DROP CONSTRAINT IF EXISTS environments_door_check;
      ALTER TABLE environments ADD CONSTRAINT environments_door_check CHECK (door IN ('api','slack','github','gitlab','cli','web'));
    `,
  },
  {
    id: 24,
    name: 'bug capsules',
    sql: `
      -- Bug capsules (docs/data-workflows.md#bug-capsules): a copy of an environment's database
      -- (its own volume, not labeled for the environment: it outlives it) with what a developer
      -- needs to see what QA saw: image digests, the rendered stack, template, seed, timeline,
      -- the last log lines per service, the router's request trail, and a pg_dump for the
      -- archive. They belong to the environment's team. A restore names one in
      -- environments.restore_from ('cap-...') of a new environment.
      CREATE TABLE capsules (
        id             text PRIMARY KEY,
        name           text NOT NULL,
        note           text NOT NULL DEFAULT '',
        team           text NOT NULL,
        environment_id uuid NOT NULL,
        environment    text NOT NULL,
        template       text NOT NULL,
        seed           text,
        images         jsonb NOT NULL DEFAULT '{}',
        digests        jsonb NOT NULL DEFAULT '{}',
        status         text NOT NULL CHECK (status IN ('pending', 'ready', 'failed', 'deleting')),
        volume         text NOT NULL,
        stack          text,
        timeline       jsonb,
        logs           jsonb,
        requests       jsonb NOT NULL DEFAULT '[]',
        dump           bytea,
        dump_error     text,
        size_bytes     bigint,
        pause_ms       integer,
        error          text,
        created_by     text NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        ready_at       timestamptz,
        deleted_by     text
      );
      CREATE INDEX capsules_team ON capsules (team, created_at DESC) WHERE status <> 'deleting';
      CREATE INDEX capsules_environment ON capsules (environment_id, created_at DESC);
    `,
  },
  {
    id: 25,
    name: 'Slack bot: the channel message',
    sql: `
      -- With MAYFLY_SLACK_BOT_TOKEN, an environment deployed from Slack has one channel message
      -- (kind 'slack-bot', target the channel id); its data keeps the message's ts, the expiry
      -- warning's ts and the lease end it warned about (docs/doors.md#slack).
      ALTER TABLE notification_subscriptions DROP CONSTRAINT IF EXISTS notification_subscriptions_kind_check;
      ALTER TABLE notification_subscriptions ADD CONSTRAINT notification_subscriptions_kind_check
        CHECK (kind IN ('callback','slack','github','github-pr','gitlab-mr','slack-bot'));
    `,
  },
  {
    id: 28,
    name: 'redelivery of checkpoints and capsules',
    sql: `
      -- The reconciler queues again a checkpoint or bug capsule left pending (or a capsule left
      -- deleting) with no live job: Redis lost it, or its worker died past BullMQ's stall limit
      -- (docs/faults-and-recovery.md). It counts how often, and gives up past a bound.
      ALTER TABLE checkpoints ADD COLUMN redeliveries integer NOT NULL DEFAULT 0;
      ALTER TABLE capsules ADD COLUMN redeliveries integer NOT NULL DEFAULT 0, ADD COLUMN deleted_at timestamptz;
      CREATE INDEX checkpoints_pending ON checkpoints (created_at) WHERE status = 'pending';
      CREATE INDEX capsules_unfinished ON capsules (created_at) WHERE status IN ('pending', 'deleting');
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
