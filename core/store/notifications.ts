import type pg from 'pg';
import type { EnvironmentEvent } from '../domain/environment.js';

/**
 * The notification outbox: environment_events is the log, each subscription (a callback URL, a
 * Slack response_url, a GitHub commit) keeps a cursor into it, and the worker's notifier moves
 * the cursor as it delivers. Also: expiry warnings (an `expiring` event, once per lease end) and
 * the GitHub delivery de-dup table.
 */
export type SubscriptionKind = 'callback' | 'slack' | 'github' | 'github-pr' | 'gitlab-mr' | 'slack-bot';

/**
 * How long a claimed GitHub delivery that has no outcome yet stays claimed. GitHub waits 10 s for
 * an answer, so a claim this old was left by a process that died between claim and finish.
 */
export const GITHUB_CLAIM_EXPIRY_MS = 60_000;

export interface Subscription {
  id: number;
  environmentId: string;
  kind: SubscriptionKind;
  target: string;
  data: Record<string, unknown>;
  cursor: number;
  sent: number;
  maxSends: number | null;
  validUntil: Date | null;
  attempts: number;
  lastError: string | null;
}

/** Event types that each kind of subscriber hears about. */
export const NOTIFIED_EVENTS: Record<SubscriptionKind, readonly string[]> = {
  callback: ['ready', 'failed', 'expiring', 'destroyed'],
  slack: ['provisioning', 'ready', 'failed', 'expiring', 'destroyed'],
  github: ['ready', 'failed', 'destroyed'],
  // The pull request's live comment and deployment: every change it shows (not progress lines).
  'github-pr': ['requested', 'redeploy', 'reset-db', 'provisioning', 'ready', 'failed', 'sleeping', 'woke', 'healing',
    'lease', 'expiring', 'destroy', 'destroyed', 'github-command'],
  // A merge request's one note: the same changes (GitLab has no commands here).
  'gitlab-mr': ['requested', 'redeploy', 'reset-db', 'provisioning', 'ready', 'failed', 'sleeping', 'woke', 'healing',
    'lease', 'expiring', 'destroy', 'destroyed'],
  // The Slack bot's one channel message (MAYFLY_SLACK_BOT_TOKEN): the same changes, and its own
  // expiry warning (`slack-expiring`, raised by markSlackExpiring) that gets the buttons.
  'slack-bot': ['requested', 'redeploy', 'reset-db', 'provisioning', 'ready', 'failed', 'sleeping', 'woke', 'healing',
    'lease', 'slack-expiring', 'destroy', 'destroyed'],
};
const ALL_TYPES = [...new Set(Object.values(NOTIFIED_EVENTS).flat())];

/** Kinds whose pending events are delivered together, as one rendering of the environment as it is now. */
export const COLLAPSED_KINDS: readonly SubscriptionKind[] = ['github-pr', 'gitlab-mr', 'slack-bot'];

/** A command's answer in a pull request, waiting for the notifier (github_replies). */
export interface GithubReply {
  id: number;
  repo: string;
  number: number;
  commentId: number;
  reaction: '+1' | 'confused';
  body: string | null;
  attempts: number;
}

interface SubRow {
  id: string; environment_id: string; kind: SubscriptionKind; target: string; data: Record<string, unknown>;
  cursor: string; sent: number; max_sends: number | null; valid_until: Date | null; attempts: number; last_error: string | null;
}
const toSub = (r: SubRow): Subscription => ({
  id: Number(r.id), environmentId: r.environment_id, kind: r.kind, target: r.target, data: r.data, cursor: Number(r.cursor),
  sent: r.sent, maxSends: r.max_sends, validUntil: r.valid_until, attempts: r.attempts, lastError: r.last_error,
});

export interface DoorDetails {
  callbackUrl?: string | null;
  callbackSecretRef?: string | null;
  slackResponseUrl?: string;
  slackChannel?: string;
  slackUser?: string;
}

export class NotificationStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Remembers the door details of an environment (the latest callback URL, Slack channel...). */
  async setDoorDetails(environmentId: string, d: DoorDetails): Promise<void> {
    const cols: Record<string, unknown> = {
      callback_url: d.callbackUrl, callback_secret_ref: d.callbackSecretRef,
      slack_response_url: d.slackResponseUrl, slack_channel: d.slackChannel, slack_user: d.slackUser,
    };
    const entries = Object.entries(cols).filter(([, v]) => v !== undefined);
    if (!entries.length) return;
    await this.pool.query(
      `UPDATE environments SET ${entries.map(([k], i) => `${k} = $${i + 2}`).join(', ')} WHERE id = $1`,
      [environmentId, ...entries.map(([, v]) => v)]);
  }

  /**
   * Subscribes a target to an environment's events. `fromStart`: every event so far counts (a
   * new environment); otherwise only events from now on. Subscribing the same target twice is a no-op.
   */
  async subscribe(environmentId: string, kind: SubscriptionKind, target: string, opts: {
    data?: Record<string, unknown>; fromStart?: boolean; maxSends?: number; validForMs?: number;
    /** Subscribing again merges `data` into the subscription's (a new head commit), keeping what the notifier wrote. */
    mergeData?: boolean;
  } = {}): Promise<void> {
    await this.pool.query(
      `INSERT INTO notification_subscriptions (environment_id, kind, target, data, cursor, max_sends, valid_until)
       VALUES ($1, $2, $3, $4,
               CASE WHEN $5::boolean THEN 0 ELSE (SELECT coalesce(max(id), 0) FROM environment_events WHERE environment_id = $1) END,
               $6, CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + ($7::bigint * interval '1 millisecond') END)
       ON CONFLICT (environment_id, kind, target) WHERE active DO ${opts.mergeData ? 'UPDATE SET data = notification_subscriptions.data || EXCLUDED.data' : 'NOTHING'}`,
      [environmentId, kind, target, opts.data ?? {}, opts.fromStart ?? false, opts.maxSends ?? null, opts.validForMs ?? null]);
  }

  /** Merges `patch` into a subscription's data (what the notifier learnt: a comment id, a deployment). */
  async mergeData(sub: Subscription, patch: Record<string, unknown>): Promise<void> {
    const { rows } = await this.pool.query<{ data: Record<string, unknown> }>(
      'UPDATE notification_subscriptions SET data = data || $2 WHERE id = $1 RETURNING data', [sub.id, patch]);
    if (rows[0]) sub.data = rows[0].data;
  }

  /** Retires an environment's other subscriptions of a kind (a new commit replaces the old one). */
  async retireOthers(environmentId: string, kind: SubscriptionKind, keepTarget: string): Promise<void> {
    await this.pool.query(
      `UPDATE notification_subscriptions SET active = false WHERE environment_id = $1 AND kind = $2 AND target <> $3 AND active`,
      [environmentId, kind, keepTarget]);
  }

  /**
   * Claims (for 60 s) up to `limit` active subscriptions that are due and have an event to hear
   * about. SKIP LOCKED plus the lease keeps two notifier runs from delivering the same thing.
   */
  async claimDue(limit = 20, debounceMs = 0): Promise<Subscription[]> {
    // A collapsed kind (the pull request's comment) waits until its events have been quiet for
    // `debounceMs` (a burst of pushes is one edit), or until its oldest waited ten times that.
    const { rows } = await this.pool.query<SubRow>(
      `UPDATE notification_subscriptions SET locked_until = now() + interval '60 seconds'
       WHERE id IN (
         SELECT s.id FROM notification_subscriptions s
         WHERE s.active AND s.next_attempt_at <= now() AND (s.locked_until IS NULL OR s.locked_until < now())
           AND EXISTS (SELECT 1 FROM environment_events e WHERE e.environment_id = s.environment_id AND e.id > s.cursor AND ($2::jsonb -> s.kind) ? e.type)
           AND (NOT (s.kind = ANY($3)) OR NOT EXISTS (
                  SELECT 1 FROM environment_events e WHERE e.environment_id = s.environment_id AND e.id > s.cursor AND ($2::jsonb -> s.kind) ? e.type
                    AND e.at > now() - ($4::int * interval '1 millisecond'))
                OR EXISTS (
                  SELECT 1 FROM environment_events e WHERE e.environment_id = s.environment_id AND e.id > s.cursor AND ($2::jsonb -> s.kind) ? e.type
                    AND e.at <= now() - ($4::int * 10 * interval '1 millisecond')))
         ORDER BY s.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING *`, [limit, JSON.stringify(NOTIFIED_EVENTS), COLLAPSED_KINDS, Math.round(debounceMs)]);
    return rows.map(toSub);
  }

  /** The events after the subscription's cursor that its kind hears about, oldest first. */
  async pending(sub: Subscription, limit = 10): Promise<EnvironmentEvent[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM environment_events WHERE environment_id = $1 AND id > $2 AND type = ANY($3) ORDER BY id LIMIT $4`,
      [sub.environmentId, sub.cursor, NOTIFIED_EVENTS[sub.kind], limit]);
    return rows.map((r) => ({ id: Number(r.id), environmentId: r.environment_id, at: r.at, type: r.type, status: r.status, message: r.message, data: r.data }));
  }

  /** Records the outcome of one event for one subscription and moves its cursor past it. */
  async settle(sub: Subscription, event: EnvironmentEvent, outcome: 'delivered' | 'gave-up' | 'skipped', deliveryId: string, detail?: string): Promise<void> {
    await this.pool.query(
      `WITH d AS (INSERT INTO notification_deliveries (subscription_id, event_id, delivery_id, event_type, outcome, attempts, detail)
                  VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING)
       UPDATE notification_subscriptions SET cursor = greatest(cursor, $2), attempts = 0, last_error = NULL, next_attempt_at = now(),
              sent = sent + CASE WHEN $5 = 'delivered' THEN 1 ELSE 0 END,
              active = active AND $4 <> 'destroyed'
       WHERE id = $1`,
      [sub.id, event.id, deliveryId, event.type, outcome, sub.attempts + (outcome === 'skipped' ? 0 : 1), detail ?? null]);
    sub.cursor = event.id;
    sub.attempts = 0;
    if (outcome === 'delivered') sub.sent++;
  }

  /** A failed attempt: try again after `retryInMs`. */
  async failed(sub: Subscription, error: string, retryInMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE notification_subscriptions SET attempts = attempts + 1, last_error = $2, locked_until = NULL,
              next_attempt_at = now() + ($3::int * interval '1 millisecond') WHERE id = $1`,
      [sub.id, error.slice(0, 500), Math.round(retryInMs)]);
  }

  async release(sub: Subscription): Promise<void> {
    await this.pool.query('UPDATE notification_subscriptions SET locked_until = NULL WHERE id = $1', [sub.id]);
  }

  /** Retires subscriptions of destroyed environments that have nothing left to hear. */
  async retireFinished(): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE notification_subscriptions s SET active = false
       FROM environments e WHERE s.environment_id = e.id AND s.active AND e.status = 'destroyed'
         AND NOT EXISTS (SELECT 1 FROM environment_events ev WHERE ev.environment_id = s.environment_id AND ev.id > s.cursor AND ev.type = ANY($1))`,
      [ALL_TYPES]);
    return rowCount ?? 0;
  }

  /**
   * Marks ready environments whose lease ends within `windowMs` and that were not warned about
   * this lease end, appending an `expiring` event for each, in one statement. Extending the
   * lease moves expires_at, so the next end is warned about again.
   */
  async markExpiring(windowMs: number, limit = 100): Promise<{ id: string; name: string; expiresAt: Date }[]> {
    const { rows } = await this.pool.query<{ id: string; name: string; expires_at: Date }>(
      `WITH due AS (
         SELECT id FROM environments
         WHERE status IN ('ready', 'sleeping') AND expires_at > now() AND expires_at <= now() + ($1::bigint * interval '1 millisecond')
           AND expiry_warned_for IS DISTINCT FROM expires_at
         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
       moved AS (
         UPDATE environments e SET expiry_warned_at = now(), expiry_warned_for = e.expires_at
         FROM due WHERE e.id = due.id RETURNING e.id, e.name, e.status, e.expires_at),
       logged AS (
         INSERT INTO environment_events (environment_id, type, status, message, data)
         SELECT id, 'expiring', status,
                'lease ends at ' || to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (in '
                  || greatest(1, ceil(extract(epoch FROM expires_at - now()) / 60))::int || ' min); extend it to keep it',
                jsonb_build_object('expiresAt', expires_at, 'secondsLeft', greatest(0, floor(extract(epoch FROM expires_at - now())))::int)
         FROM moved)
       SELECT id, name, expires_at FROM moved`, [windowMs, limit]);
    return rows.map((r) => ({ id: r.id, name: r.name, expiresAt: r.expires_at }));
  }

  /**
   * The Slack bot's expiry warning: for each active `slack-bot` subscription whose environment is
   * ready (or asleep) and whose lease ends within `windowMs` (MAYFLY_SLACK_EXPIRY_WARNING), once
   * per lease end, a `slack-expiring` event naming the subscription; the notifier answers it with
   * the warning and its buttons. The lease end warned about is kept in the subscription's data
   * (`warnFor`, epoch seconds), so extending the lease re-arms it. One statement: two notifiers
   * never raise the same warning.
   */
  async markSlackExpiring(windowMs: number, limit = 100): Promise<{ id: string; name: string; subscription: number; expiresAt: Date }[]> {
    const { rows } = await this.pool.query<{ id: string; name: string; sub_id: string; expires_at: Date }>(
      `WITH due AS (
         SELECT s.id AS sub_id, e.id, e.name, e.status, e.expires_at, floor(extract(epoch FROM e.expires_at))::bigint AS epoch
         FROM notification_subscriptions s JOIN environments e ON e.id = s.environment_id
         WHERE s.kind = 'slack-bot' AND s.active AND e.status IN ('ready', 'sleeping')
           AND e.expires_at > now() AND e.expires_at <= now() + ($1::bigint * interval '1 millisecond')
           AND (s.data ->> 'warnFor') IS DISTINCT FROM floor(extract(epoch FROM e.expires_at))::bigint::text
         ORDER BY e.expires_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED),
       marked AS (
         UPDATE notification_subscriptions s SET data = s.data || jsonb_build_object('warnFor', due.epoch::text)
         FROM due WHERE s.id = due.sub_id RETURNING s.id),
       logged AS (
         INSERT INTO environment_events (environment_id, type, status, message, data)
         SELECT id, 'slack-expiring', status,
                'lease ends at ' || to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' (in '
                  || greatest(1, ceil(extract(epoch FROM expires_at - now()) / 60))::int || ' min): warned in Slack with Extend and Destroy buttons',
                jsonb_build_object('subscription', sub_id, 'expiresAt', epoch)
         FROM due)
       SELECT id, name, sub_id, expires_at FROM due`, [windowMs, limit]);
    return rows.map((r) => ({ id: r.id, name: r.name, subscription: Number(r.sub_id), expiresAt: r.expires_at }));
  }

  /** Door details of an environment, for the notifier. */
  async doorDetails(environmentId: string): Promise<{ callbackUrl: string | null; callbackSecretRef: string | null; slackChannel: string | null; slackUser: string | null } | undefined> {
    const { rows } = await this.pool.query(
      'SELECT callback_url, callback_secret_ref, slack_channel, slack_user FROM environments WHERE id = $1', [environmentId]);
    const r = rows[0];
    return r ? { callbackUrl: r.callback_url, callbackSecretRef: r.callback_secret_ref, slackChannel: r.slack_channel, slackUser: r.slack_user } : undefined;
  }

  /**
   * Claims a GitHub delivery id. False when it was handled before (a replay or a redelivery of
   * something done), or when another request claimed it less than `expiryMs` ago and may still be
   * handling it: the caller does nothing. A claim that is older and was never finished belongs to
   * a process that died in between, so the delivery can be claimed again (GitHub's "Redeliver").
   */
  async claimGithubDelivery(deliveryId: string, event: string, action: string | null, expiryMs = GITHUB_CLAIM_EXPIRY_MS): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO github_deliveries (delivery_id, event, action) VALUES ($1, $2, $3)
       ON CONFLICT (delivery_id) DO UPDATE SET event = EXCLUDED.event, action = EXCLUDED.action, received_at = now()
         WHERE github_deliveries.outcome IS NULL AND github_deliveries.received_at <= now() - ($4::int * interval '1 millisecond')`,
      [deliveryId, event, action, expiryMs]);
    return rowCount === 1;
  }

  async finishGithubDelivery(deliveryId: string, outcome: string): Promise<void> {
    await this.pool.query('UPDATE github_deliveries SET outcome = $2 WHERE delivery_id = $1', [deliveryId, outcome.slice(0, 500)]);
  }

  /** Forgets a delivery whose handling failed, so GitHub's redelivery is handled. */
  async forgetGithubDelivery(deliveryId: string): Promise<void> {
    await this.pool.query('DELETE FROM github_deliveries WHERE delivery_id = $1', [deliveryId]);
  }

  /** Records that a command comment is to be answered (a reaction, and a reply when `body`). */
  async queueGithubReply(r: { repo: string; number: number; commentId: number; reaction: '+1' | 'confused'; body?: string }): Promise<void> {
    await this.pool.query('INSERT INTO github_replies (repo, number, comment_id, reaction, body) VALUES ($1, $2, $3, $4, $5)',
      [r.repo, r.number, r.commentId, r.reaction, r.body ?? null]);
  }

  /** Claims (for 60 s) the answers that are due, oldest first. */
  async claimGithubReplies(limit = 20): Promise<GithubReply[]> {
    const { rows } = await this.pool.query(
      `UPDATE github_replies SET locked_until = now() + interval '60 seconds'
       WHERE id IN (SELECT id FROM github_replies WHERE done_at IS NULL AND next_attempt_at <= now()
                      AND (locked_until IS NULL OR locked_until < now()) ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING *`, [limit]);
    return rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => ({
      id: Number(r.id), repo: r.repo, number: r.number, commentId: Number(r.comment_id), reaction: r.reaction, body: r.body, attempts: r.attempts,
    }));
  }

  /** What came of an answer: done (`delivered`, or `gave-up` with why), or another try after `retryInMs`. */
  async settleGithubReply(id: number, outcome: { done: 'delivered' | 'gave-up'; detail?: string } | { retryInMs: number; error: string }): Promise<void> {
    if ('done' in outcome) {
      await this.pool.query(`UPDATE github_replies SET done_at = now(), outcome = $2, last_error = $3, attempts = attempts + 1, locked_until = NULL WHERE id = $1`,
        [id, outcome.done, outcome.detail?.slice(0, 500) ?? null]);
    } else {
      await this.pool.query(`UPDATE github_replies SET attempts = attempts + 1, last_error = $2, locked_until = NULL,
                               next_attempt_at = now() + ($3::int * interval '1 millisecond') WHERE id = $1`,
        [id, outcome.error.slice(0, 500), Math.round(outcome.retryInMs)]);
    }
  }

  /** The latest event of a type, for the pull request's comment (the last failure, the last command). */
  async latestEvent(environmentId: string, type: string): Promise<EnvironmentEvent | undefined> {
    const { rows } = await this.pool.query(
      'SELECT * FROM environment_events WHERE environment_id = $1 AND type = $2 ORDER BY id DESC LIMIT 1', [environmentId, type]);
    const r = rows[0];
    return r ? { id: Number(r.id), environmentId: r.environment_id, at: r.at, type: r.type, status: r.status, message: r.message, data: r.data } : undefined;
  }
}
