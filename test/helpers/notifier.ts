/** Drives the worker's notifier from a test: until a kind of subscription delivered once more. */
import { notify } from '../../worker/jobs/notify.js';
import type { SubscriptionKind } from '../../core/store/notifications.js';
import { waitUntil, type Harness } from './harness.js';

/** How many deliveries subscriptions of `kind` have recorded. */
export async function deliveriesOf(h: Harness, kind: SubscriptionKind): Promise<number> {
  return Number((await h.pool.query(
    `SELECT count(*) FROM notification_deliveries d JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE s.kind = $1`, [kind])).rows[0].count);
}

/** Runs the notifier until a subscription of `kind` delivered once more (a collapsed kind's events must have been quiet for the debounce). */
export async function notifyUntilDelivered(h: Harness, kind: SubscriptionKind, what: string): Promise<void> {
  const before = await deliveriesOf(h, kind);
  await waitUntil(`the notifier to deliver ${kind}: ${what}`, 30_000, async () => {
    await notify(h.ctx, h.ctx.notifications);
    return (await deliveriesOf(h, kind)) > before;
  });
}
