import type { Environment, EnvironmentEvent } from '../../core/domain/environment.js';
import { callbackEnvironment, slackFollowUp } from '../../core/doors/text.js';
import { errorMessage } from '../../core/domain/errors.js';
import { GitHubClient } from '../../core/doors/github-client.js';
import { OutboundRefused, postJson, safeUrl } from '../../core/doors/http-out.js';
import { sha256Signature } from '../../core/doors/signatures.js';
import type { NotificationStore, Subscription } from '../../core/store/notifications.js';
import type { WorkerContext } from '../context.js';

/** What this module uses of the worker's context (narrow: a test gives it only these). */
type Deps = Pick<WorkerContext, 'catalog' | 'config' | 'logger' | 'store'>;

/**
 * The notifier, run every MAYFLY_NOTIFY_INTERVAL by a BullMQ job scheduler on the lifecycle
 * queue. It never runs inside provisioning or teardown: it reads environment_events after each
 * subscription's cursor and delivers them through the environment's door (callback URL, Slack
 * response_url, GitHub commit status), in order, retrying a failed delivery with exponential
 * backoff and recording every outcome in notification_deliveries. It also raises the `expiring`
 * events (the expiry warnings).
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
  const subs = await notifications.claimDue(20);
  await Promise.all(subs.map((sub) => drain(ctx, notifications, sub, report).catch((err) => {
    log.error({ err, envId: sub.environmentId, subscription: sub.id }, 'notifier failed on a subscription; it is retried on the next run');
    return notifications.failed(sub, errorMessage(err), backoffMs(sub.attempts + 1)).catch(() => undefined);
  })));
  await notifications.retireFinished();
  return report;
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

