import type { Environment, EnvironmentEvent } from '../../core/domain/environment.js';
import { callbackEnvironment, slackFollowUp } from '../../core/doors/text.js';
import { errorMessage } from '../../core/domain/errors.js';
import { GitHubClient, type DeploymentState } from '../../core/doors/github-client.js';
import { GitLabClient } from '../../core/doors/gitlab-client.js';
import { OutboundError, OutboundRefused, postJson, safeUrl } from '../../core/doors/http-out.js';
import { commentMarker, environmentLinks, renderComment } from '../../core/doors/pull-request.js';
import { sha256Signature } from '../../core/doors/signatures.js';
import { environmentMessage, expiryWarning, warningClosed } from '../../core/doors/slack-blocks.js';
import { SLACK_GONE_ERRORS, SlackApiError, SlackClient } from '../../core/doors/slack-client.js';
import { COLLAPSED_KINDS, type NotificationStore, type Subscription } from '../../core/store/notifications.js';
import type { WorkerContext } from '../context.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'catalog' | 'config' | 'logger' | 'store'> & Partial<Pick<WorkerContext, 'runtime'>>;

/**
 * The notifier, run every MAYFLY_NOTIFY_INTERVAL by a BullMQ job scheduler on the lifecycle
 * queue. It never runs inside provisioning or teardown: it reads environment_events after each
 * subscription's cursor and delivers them through the environment's door (callback URL, Slack
 * response_url, GitHub commit status), in order, retrying a failed delivery with exponential
 * backoff and recording every outcome in notification_deliveries. It also raises the `expiring`
 * events (the expiry warnings). A pull request's live comment and deployment (kind `github-pr`)
 * are not one message per event: once its events have been quiet for
 * MAYFLY_GITHUB_COMMENT_DEBOUNCE, everything pending is one rendering of the environment as it
 * is now (one edit for a burst of pushes); a merge request's note (`gitlab-mr`) and the Slack
 * bot's channel message (`slack-bot`, MAYFLY_SLACK_BOT_TOKEN) likewise, the latter with its
 * expiry warning and buttons (`slack-expiring` events, raised here MAYFLY_SLACK_EXPIRY_WARNING
 * before the lease ends). The answers to pull request commands (reactions, refusal replies) go
 * out from here too (github_replies).
 */
export interface NotifyReport { warned: number; delivered: number; failed: number; skipped: number }

/** The secret that signs callbacks, by the reference stored with the environment. */
function callbackSecret(ctx: Deps, ref: string | null): string | undefined {
  return ref === 'MAYFLY_CALLBACK_SECRET' ? ctx.config.doors.callbackSecret : undefined;
}

export function backoffMs(attempt: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

export async function notify(ctx: Deps, notifications: NotificationStore): Promise<NotifyReport> {
  const report: NotifyReport = { warned: 0, delivered: 0, failed: 0, skipped: 0 };
  const log = ctx.logger.child({ job: 'notify' });
  for (const w of await notifications.markExpiring(ctx.config.doors.expiryWarningMs)) {
    report.warned++;
    log.info({ envId: w.id, name: w.name, expiresAt: w.expiresAt }, 'lease ends soon: expiring event recorded');
  }
  for (const w of await notifications.markSlackExpiring(ctx.config.doors.slackExpiryWarningMs)) {
    report.warned++;
    log.info({ envId: w.id, name: w.name, subscription: w.subscription, expiresAt: w.expiresAt }, `lease of ${w.name} ends soon: Slack warning with buttons due`);
  }
  const subs = await notifications.claimDue(20, ctx.config.doors.githubCommentDebounceMs);
  await Promise.all(subs.map((sub) => (COLLAPSED_KINDS.includes(sub.kind) ? drainPullRequest : drain)(ctx, notifications, sub, report).catch((err) => {
    log.error({ err, envId: sub.environmentId, subscription: sub.id }, 'notifier failed on a subscription; it is retried on the next run');
    return notifications.failed(sub, errorMessage(err), backoffMs(sub.attempts + 1)).catch(() => undefined);
  })));
  await answerCommands(ctx, notifications, report);
  await notifications.retireFinished();
  return report;
}

/** Whether a failed call is worth another try: not when GitHub said the request itself is wrong. */
function retryable(err: unknown): boolean {
  if (!(err instanceof OutboundError)) return true;
  return err.retryable && (err.status === undefined || err.status >= 500 || err.status === 408 || err.status === 429 || err.status === 403);
}

/** What a collapsed subscription writes to, for logs, and what to check when it keeps failing. */
function placeOf(sub: Subscription): { where: string; hint: string } {
  if (sub.kind === 'slack-bot') return { where: `the Slack message in channel ${String(sub.data.channel ?? sub.target)}`, hint: 'check MAYFLY_SLACK_BOT_TOKEN (scope chat:write) and that the app is in the channel' };
  return sub.kind === 'gitlab-mr'
    ? { where: `merge request ${String(sub.data.path ?? sub.data.project)}!${String(sub.data.iid)}`, hint: "check MAYFLY_GITLAB_TOKEN's rights (api scope, Reporter or more on the project)" }
    : { where: `pull request ${String(sub.data.repo)}#${String(sub.data.number)}`, hint: "check MAYFLY_GITHUB_TOKEN's rights (issues, deployments: write)" };
}

/**
 * The pull request's live comment (or merge request's note) and deployment: every pending event at once, rendered as the
 * environment is now. A failure is retried with backoff (the cursor stays), up to
 * MAYFLY_NOTIFY_ATTEMPTS, then recorded as given up on the last event.
 */
async function drainPullRequest(ctx: Deps, notifications: NotificationStore, sub: Subscription, report: NotifyReport): Promise<void> {
  const log = ctx.logger.child({ job: 'notify', envId: sub.environmentId, subscription: sub.id, kind: sub.kind });
  const events = await notifications.pending(sub, 1000);
  const last = events.at(-1);
  const env = await ctx.store.getById(sub.environmentId);
  if (!last || !env) return notifications.release(sub);
  const deliveryId = `${sub.id}-${last.id}`;
  const { where, hint } = placeOf(sub);
  try {
    const skipped = sub.kind === 'slack-bot' ? await deliverSlackMessage(ctx, notifications, sub, env, events)
      : await (sub.kind === 'gitlab-mr' ? deliverMergeRequest : deliverPullRequest)(ctx, notifications, sub, env);
    await notifications.settle(sub, last, skipped ? 'skipped' : 'delivered', deliveryId, skipped);
    if (skipped) report.skipped++;
    else {
      report.delivered++;
      log.info({ events: events.length, status: env.status }, `updated ${where} for ${env.name} (${events.length} event(s))`);
    }
  } catch (err) {
    const attempt = sub.attempts + 1;
    if (attempt >= ctx.config.doors.notifyAttempts || !retryable(err)) {
      log.error({ attempts: attempt, err: errorMessage(err) },
        `gave up updating ${where} for ${env.name}; ${hint}. The next change tries again`);
      await notifications.settle(sub, last, 'gave-up', deliveryId, errorMessage(err));
      report.failed++;
      return notifications.release(sub);
    }
    // Slack's rate limit says how long to wait: never sooner than that.
    const wait = Math.max(backoffMs(attempt), err instanceof OutboundError ? err.retryAfterMs ?? 0 : 0);
    log.warn({ attempt, retryInMs: wait, err: errorMessage(err) }, `updating ${where} for ${env.name} failed; retrying in ${wait} ms`);
    await notifications.failed(sub, errorMessage(err), wait);
    report.failed++;
    return;
  }
  await notifications.release(sub);
}

/** The GitHub deployment state of an environment's status; undefined: nothing to say yet. */
function deploymentState(env: Environment): DeploymentState | undefined {
  switch (env.status) {
    case 'queued': case 'provisioning': return 'in_progress';
    case 'ready': case 'sleeping': return 'success';
    case 'failed': return 'failure';
    case 'destroyed': return 'inactive';
    case 'destroying': return undefined;
  }
}

/** Writes the comment (created once, found again by its marker, edited in place) and the deployment. Returns a skip reason, if any. */
async function deliverPullRequest(ctx: Deps, notifications: NotificationStore, sub: Subscription, env: Environment): Promise<string | undefined> {
  const token = ctx.config.doors.githubToken;
  if (!token) return 'MAYFLY_GITHUB_TOKEN is not set';
  const repo = String(sub.data.repo ?? '');
  const number = Number(sub.data.number);
  const sha = typeof sub.data.sha === 'string' && /^[0-9a-f]{7,64}$/i.test(sub.data.sha) ? sub.data.sha : undefined;
  const client = new GitHubClient(ctx.config.doors.githubApiUrl, token, ctx.config.doors.outboundTimeoutMs);
  const entryService = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template).entryService : undefined;
  const body = await renderNow(ctx, notifications, env, { sha, commands: true });
  await writeMarked(notifications, sub, 'commentId', {
    update: (id) => client.updateComment(repo, id, body),
    find: async () => (await client.findComment(repo, number, commentMarker(env.name)))?.id,
    create: () => client.createComment(repo, number, body),
  });

  // The deployment: one per head commit, in GitHub environment <name>; its status follows ours.
  const state = deploymentState(env);
  if (sha && state && state !== 'inactive' && sub.data.deploymentSha !== sha) {
    const id = await client.createDeployment(repo, { ref: sha, environment: env.name, description: `Mayfly environment ${env.name} (${env.template})` });
    await notifications.mergeData(sub, { deploymentId: id, deploymentSha: sha, deploymentState: null });
  }
  const deploymentId = typeof sub.data.deploymentId === 'number' ? sub.data.deploymentId : undefined;
  if (deploymentId !== undefined && state && sub.data.deploymentState !== state) {
    const links = environmentLinks(ctx.config.publicUrl, env.name);
    const url = state === 'success' ? entryUrlOf(env, entryService) : null;
    await client.setDeploymentStatus(repo, deploymentId, {
      state, environmentUrl: url, logUrl: links.timeline,
      description: state === 'failure' ? `${env.name} failed: ${env.failure?.code ?? 'see the timeline'}` : state === 'inactive' ? `${env.name} destroyed (${env.destroyReason ?? 'destroyed'})` : `${env.name} is ${env.status}`,
    });
    await notifications.mergeData(sub, { deploymentState: state });
  }
  return undefined;
}

/** The live comment's (or note's) body for the environment as it is now. */
async function renderNow(ctx: Deps, notifications: NotificationStore, env: Environment, opts: { sha?: string | undefined; commands: boolean }): Promise<string> {
  const entryService = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template).entryService : undefined;
  const live = env.status !== 'destroyed' && env.status !== 'destroying';
  // Without the engine (a narrow test context) the services are not shown.
  const services = !live ? [] : ctx.runtime ? await ctx.runtime.services(env.id).catch(() => undefined) : undefined;
  const failure = await notifications.latestEvent(env.id, 'failed');
  const command = opts.commands ? await notifications.latestEvent(env.id, 'github-command') : undefined;
  const cmd = (command?.data ?? {}) as { by?: string; text?: string; outcome?: string };
  return renderComment({
    env, ...(entryService ? { entryService } : {}), ...(opts.sha ? { sha: opts.sha } : {}), publicUrl: ctx.config.publicUrl, commands: opts.commands,
    ...(services ? { services: services.map((s) => ({ service: s.service, state: s.state, health: s.health })) } : {}),
    lastFailure: failure ? { at: failure.at, code: String((failure.data as { code?: unknown } | null)?.code ?? 'FAILED'), message: failure.message.replace(/^failed: /, '') } : null,
    lastCommand: command ? { at: command.at, by: String(cmd.by ?? '?'), text: String(cmd.text ?? ''), outcome: String(cmd.outcome ?? '') } : null,
  });
}

/**
 * The one comment (or note): edited where it is; found again by its marker when its id is not
 * known (a new subscription, a crash between creating it and recording its id) or it was deleted
 * (404); created only when no comment has the marker. The id is kept in the subscription's `key`.
 */
async function writeMarked(notifications: NotificationStore, sub: Subscription, key: string, ops: {
  update(id: number): Promise<void>; find(): Promise<number | undefined>; create(): Promise<number>;
}): Promise<void> {
  let id = typeof sub.data[key] === 'number' ? sub.data[key] : undefined;
  if (id !== undefined) {
    try {
      await ops.update(id);
      return;
    } catch (err) {
      if (!(err instanceof OutboundError && err.status === 404)) throw err;
      id = undefined; // deleted by someone: written again below
    }
  }
  const found = await ops.find();
  if (found !== undefined) await ops.update(found);
  id = found ?? await ops.create();
  await notifications.mergeData(sub, { [key]: id });
}

/** Writes the merge request's one note (created once, found again by its marker, edited in place). Returns a skip reason, if any. */
async function deliverMergeRequest(ctx: Deps, notifications: NotificationStore, sub: Subscription, env: Environment): Promise<string | undefined> {
  const token = ctx.config.doors.gitlabToken;
  if (!token) return 'MAYFLY_GITLAB_TOKEN is not set';
  const project = Number(sub.data.project);
  const iid = Number(sub.data.iid);
  const sha = typeof sub.data.sha === 'string' && /^[0-9a-f]{7,64}$/i.test(sub.data.sha) ? sub.data.sha : undefined;
  const client = new GitLabClient(ctx.config.doors.gitlabUrl, token, ctx.config.doors.outboundTimeoutMs);
  const body = await renderNow(ctx, notifications, env, { sha, commands: false });
  await writeMarked(notifications, sub, 'noteId', {
    update: (id) => client.updateNote(project, iid, id, body),
    find: async () => (await client.findNote(project, iid, commentMarker(env.name)))?.id,
    create: () => client.createNote(project, iid, body),
  });
  return undefined;
}

/**
 * The Slack bot's one channel message (posted once, its ts kept in the subscription's data in
 * PostgreSQL, then edited in place), and the expiry warning in its thread: posted once per
 * `slack-expiring` event for this subscription while that lease end still holds; its buttons
 * removed (the message says what happened) once the lease moved or the environment goes.
 */
async function deliverSlackMessage(ctx: Deps, notifications: NotificationStore, sub: Subscription, env: Environment, events: EnvironmentEvent[]): Promise<string | undefined> {
  const token = ctx.config.doors.slackBotToken;
  if (!token) return 'MAYFLY_SLACK_BOT_TOKEN is not set';
  const client = new SlackClient(ctx.config.doors.slackApiUrl, token, ctx.config.doors.outboundTimeoutMs);
  const channel = String(sub.data.channel ?? sub.target);
  const entryService = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template).entryService : undefined;
  const failure = await notifications.latestEvent(env.id, 'failed');
  const message = environmentMessage({
    env, publicUrl: ctx.config.publicUrl, ...(entryService ? { entryService } : {}),
    lastFailure: failure ? { at: failure.at, code: String((failure.data as { code?: unknown } | null)?.code ?? 'FAILED'), message: failure.message.replace(/^failed: /, '') } : null,
  });
  let ts = typeof sub.data.ts === 'string' ? sub.data.ts : undefined;
  if (ts !== undefined) {
    try {
      await client.update(channel, ts, message);
    } catch (err) {
      if (!(err instanceof SlackApiError && SLACK_GONE_ERRORS.has(err.error))) throw err;
      ts = undefined; // deleted by someone: posted again below
    }
  }
  if (ts === undefined) {
    const posted = await client.post(channel, message);
    ts = posted.ts;
    await notifications.mergeData(sub, { ts: posted.ts, channel: posted.channel });
  }

  const leased = env.status === 'ready' || env.status === 'sleeping';
  const epoch = String(Math.floor(env.expiresAt.getTime() / 1000));
  const warning = events.findLast((e) => e.type === 'slack-expiring' && Number((e.data as { subscription?: unknown } | null)?.subscription) === sub.id);
  const warnFor = String((warning?.data as { expiresAt?: unknown } | null)?.expiresAt ?? '');
  if (warning && leased && warnFor === epoch && sub.data.warningFor !== epoch) {
    const posted = await client.post(channel, expiryWarning(env), { threadTs: ts, broadcast: true });
    await notifications.mergeData(sub, { warningTs: posted.ts, warningFor: epoch, warningClosed: false });
  } else if (typeof sub.data.warningTs === 'string' && sub.data.warningClosed !== true
    && (env.status === 'destroyed' || env.status === 'destroying' || sub.data.warningFor !== epoch)) {
    // The lease it warned about no longer holds (moved, or the environment goes): its buttons go.
    const lease = await notifications.latestEvent(env.id, 'lease');
    try {
      await client.update(channel, sub.data.warningTs, warningClosed(env, lease?.message));
    } catch (err) {
      if (!(err instanceof SlackApiError && SLACK_GONE_ERRORS.has(err.error))) throw err;
    }
    await notifications.mergeData(sub, { warningClosed: true });
  }
  return undefined;
}

function entryUrlOf(env: Environment, entryService?: string): string | null {
  return (entryService && env.urls[entryService]) || Object.values(env.urls)[0] || null;
}

/** Reactions to pull request commands, and the replies to refused ones (github_replies). */
async function answerCommands(ctx: Deps, notifications: NotificationStore, report: NotifyReport): Promise<void> {
  const token = ctx.config.doors.githubToken;
  if (!token) return;
  const client = new GitHubClient(ctx.config.doors.githubApiUrl, token, ctx.config.doors.outboundTimeoutMs);
  for (const r of await notifications.claimGithubReplies()) {
    try {
      await client.react(r.repo, r.commentId, r.reaction);
      if (r.body) await client.createComment(r.repo, r.number, r.body);
      await notifications.settleGithubReply(r.id, { done: 'delivered' });
      report.delivered++;
    } catch (err) {
      report.failed++;
      const attempt = r.attempts + 1;
      if (attempt >= ctx.config.doors.notifyAttempts || !retryable(err)) {
        ctx.logger.error({ job: 'notify', repo: r.repo, number: r.number, err: errorMessage(err) }, `gave up answering a command on ${r.repo}#${r.number}; check MAYFLY_GITHUB_TOKEN's rights (issues: write)`);
        await notifications.settleGithubReply(r.id, { done: 'gave-up', detail: errorMessage(err) });
      } else {
        await notifications.settleGithubReply(r.id, { retryInMs: backoffMs(attempt), error: errorMessage(err) });
      }
    }
  }
}

async function drain(ctx: Deps, notifications: NotificationStore, sub: Subscription, report: NotifyReport): Promise<void> {
  const log = ctx.logger.child({ job: 'notify', envId: sub.environmentId, subscription: sub.id, kind: sub.kind });
  const events = await notifications.pending(sub);
  for (const event of events) {
    const env = await ctx.store.getById(sub.environmentId);
    if (!env) return;
    const deliveryId = `${sub.id}-${event.id}`;
    let outcome: { skip?: string } | undefined;
    try {
      outcome = await deliver(ctx, notifications, sub, env, event, deliveryId);
    } catch (err) {
      if (err instanceof OutboundRefused) {
        // The address guard refused the receiver: no retry helps, only the allow-list. Said once
        // on the environment's timeline, and on every event's delivery record.
        log.warn({ event: event.type, address: err.address, err: err.message }, `callback of ${env.name} refused: ${err.message}`);
        await notifications.settle(sub, event, 'gave-up', deliveryId, err.message);
        if (await ctx.store.countEvents(env.id, 'callback-refused') === 0) {
          await ctx.store.addEvent(env.id, 'callback-refused', `callback to ${safeUrl(sub.target)} not sent: ${err.message}`, { address: err.address, setting: 'MAYFLY_CALLBACK_ALLOW' });
        }
        report.failed++;
        continue;
      }
      const attempt = sub.attempts + 1;
      if (attempt >= ctx.config.doors.notifyAttempts) {
        log.error({ event: event.type, attempts: attempt, err: errorMessage(err) },
          `gave up delivering "${event.type}" of ${env.name} to ${sub.kind} ${safeUrl(sub.target)}; fix the receiver, the next events still go out`);
        await notifications.settle(sub, event, 'gave-up', deliveryId, errorMessage(err));
        report.failed++;
        continue;
      }
      const wait = backoffMs(attempt);
      log.warn({ event: event.type, attempt, retryInMs: wait, err: errorMessage(err) },
        `delivering "${event.type}" of ${env.name} to ${sub.kind} failed; retrying in ${wait} ms`);
      await notifications.failed(sub, errorMessage(err), wait);
      report.failed++;
      return; // keep the order: nothing later goes out before this one
    }
    if (outcome?.skip) {
      await notifications.settle(sub, event, 'skipped', deliveryId, outcome.skip);
      report.skipped++;
    } else {
      await notifications.settle(sub, event, 'delivered', deliveryId);
      report.delivered++;
      log.info({ event: event.type }, `delivered "${event.type}" of ${env.name} via ${sub.kind}`);
    }
  }
  await notifications.release(sub);
}

async function deliver(
  ctx: Deps, notifications: NotificationStore, sub: Subscription, env: Environment, event: EnvironmentEvent, deliveryId: string,
): Promise<{ skip?: string } | undefined> {
  const timeout = ctx.config.doors.outboundTimeoutMs;
  const entryService = ctx.catalog.has(env.template) ? ctx.catalog.get(env.template).entryService : undefined;
  const eventsUrl = `${ctx.config.publicUrl}/api/v1/environments/${env.name}/events`;
  switch (sub.kind) {
    case 'callback': {
      const details = await notifications.doorDetails(env.id);
      const secret = callbackSecret(ctx, details?.callbackSecretRef ?? (sub.data.secretRef as string | undefined) ?? null);
      if (!secret) return { skip: 'no callback secret is configured (MAYFLY_CALLBACK_SECRET); unsigned callbacks are never sent' };
      const type = event.type;
      const body = JSON.stringify({
        id: deliveryId, event: type, at: event.at.toISOString(), message: event.message, data: event.data,
        environment: callbackEnvironment(env, entryService),
        // How to act on it: extend takes POST {"ttl": "2h"} with an API token.
        links: { self: `${ctx.config.publicUrl}/api/v1/environments/${env.name}`, events: eventsUrl, extend: `${ctx.config.publicUrl}/api/v1/environments/${env.name}/extend` },
      });
      // Resolved, every address checked, and connected to a checked one (core/doors/outbound-guard.ts).
      await postJson(sub.target, body, {
        'x-mayfly-event': type,
        'x-mayfly-delivery': deliveryId,
        'x-mayfly-signature': sha256Signature(secret, body),
      }, timeout, { guard: ctx.config.doors.callbackAllow });
      return undefined;
    }
    case 'slack': {
      if (sub.validUntil && sub.validUntil.getTime() < Date.now()) return { skip: 'Slack response_url expired (30 minutes after the command)' };
      if (sub.maxSends !== null && sub.sent >= sub.maxSends) return { skip: `Slack allows ${sub.maxSends} follow-ups per command; budget used` };
      // Progress is worth one message at most; the outcome always goes out.
      if (event.type === 'provisioning' && sub.sent > 0) return { skip: 'progress already posted' };
      // Keep one follow-up in reserve for the outcome: progress never takes the last one.
      if (event.type === 'provisioning' && sub.maxSends !== null && sub.sent >= sub.maxSends - 1) return { skip: 'kept for the outcome' };
      const command = typeof sub.data.command === 'string' ? sub.data.command : '/mayfly';
      const text = slackFollowUp(env, event, command, entryService, eventsUrl);
      if (!text) return { skip: 'nothing to say' };
      await postJson(sub.target, JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }), {}, timeout);
      return undefined;
    }
    case 'github': {
      const token = ctx.config.doors.githubToken;
      if (!token) return { skip: 'MAYFLY_GITHUB_TOKEN is not set' };
      const repo = String(sub.data.repo ?? '');
      const sha = String(sub.data.sha ?? '');
      const client = new GitHubClient(ctx.config.doors.githubApiUrl, token, timeout);
      const data = (event.data ?? {}) as { urls?: Record<string, string>; code?: string; reason?: string };
      const url = data.urls ? ((entryService && data.urls[entryService]) || Object.values(data.urls)[0]) : undefined;
      const context = `mayfly/${env.template}`;
      if (event.type === 'ready') {
        await client.setCommitStatus(repo, sha, { state: 'success', targetUrl: url ?? null, description: `${env.name} is ready`, context });
      } else if (event.type === 'failed') {
        await client.setCommitStatus(repo, sha, { state: 'failure', targetUrl: eventsUrl, description: `${env.name} failed: ${data.code ?? 'see the timeline'}`, context });
      } else if (event.type === 'destroyed') {
        return { skip: 'the commit status keeps its last state' };
      }
      return undefined;
    }
  }
}

