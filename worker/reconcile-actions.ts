import { EventEmitter } from 'node:events';

/** What the reconciler did, one kind per corrective action (the metrics endpoint counts these). */
export const RECONCILE_ACTIONS = [
  'expired',             // a lease ran out: teardown queued
  'requeued',            // a queued environment's job was lost: queued again
  'stuck-retried',       // provisioning with no live job: queued again (bounded)
  'stuck-failed',        // ... and after too many tries: failed with a reason
  'teardown-requeued',   // destroying with no live teardown job: queued again
  'expiry-rescheduled',  // a lease's delayed expiry job was lost: scheduled again
  'healed',              // ready, but containers vanished or exited: redeployed as a new generation
  'heal-failed',         // ... too often: failed and cleaned
  'orphan-removed',      // Docker objects of an environment that is not live: removed
  'orphan-retry',        // removing them failed this time; the next run tries again
  'golden-removed',      // unused, replaced golden snapshots removed
  'helper-removed',      // a clone helper or golden builder left by a worker that died: removed
  'stale-removed',       // what a ready environment left on a node that no longer serves it (swarm)
  'endpoint-moved',      // a ready environment's service answers on another node now: address updated (swarm)
  'resumed',             // a ready environment's container left paused by a worker that died mid-copy: unpaused
  'checkpoint-requeued', // a pending checkpoint's job was lost: queued again (bounded)
  'checkpoint-failed',   // ... too often, or its environment is gone or failed: failed with why
  'capsule-requeued',    // a pending bug capsule's job was lost: queued again (bounded)
  'capsule-failed',      // ... too often, or its environment is gone, failed or redeploying: failed with why
  'capsule-delete-requeued', // a deleted capsule's removal job was lost: queued again (bounded)
  'capsule-delete-finished', // ... too often: the reconciler removed its volume and record itself
  'capsule-delete-failed',   // ... and that failed too: the capsule shows as failed, with the engine's answer
] as const;
export type ReconcileAction = (typeof RECONCILE_ACTIONS)[number];

export interface ReconcileActionEvent {
  kind: ReconcileAction;
  envId?: string;
  /** How many objects (orphans, goldens); 1 otherwise. */
  count: number;
}

/**
 * Counts the reconciler's corrective actions by kind, and emits `action` for each, so a metrics
 * module can hook in (`actions.on('action', e => counter.inc({kind: e.kind}, e.count))`) without
 * the reconciler knowing about it. One per worker process, in the worker context.
 */
export class ReconcileActions extends EventEmitter<{ action: [ReconcileActionEvent] }> {
  private readonly counts = new Map<ReconcileAction, number>();

  record(kind: ReconcileAction, envId?: string, count = 1): void {
    if (count <= 0) return;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + count);
    this.emit('action', { kind, envId, count });
  }

  /** Totals since the process started, every kind present (zero when it never happened). */
  snapshot(): Record<ReconcileAction, number> {
    return Object.fromEntries(RECONCILE_ACTIONS.map((k) => [k, this.counts.get(k) ?? 0])) as Record<ReconcileAction, number>;
  }
}
