import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReconcileActions, RECONCILE_ACTIONS, type ReconcileActionEvent } from '../../worker/reconcile-actions.js';

describe('ReconcileActions', () => {
  it('when actions are recorded, then they are counted by kind and each is emitted for a metrics hook', () => {
    const actions = new ReconcileActions();
    const seen: ReconcileActionEvent[] = [];
    actions.on('action', (e) => seen.push(e));
    actions.record('healed', 'env-1');
    actions.record('orphan-removed', 'env-2', 3);
    actions.record('golden-removed', undefined, 0); // nothing happened: not counted, not emitted
    const counts = actions.snapshot();
    assert.equal(counts.healed, 1);
    assert.equal(counts['orphan-removed'], 3);
    assert.equal(counts['golden-removed'], 0);
    assert.deepEqual(Object.keys(counts).sort(), [...RECONCILE_ACTIONS].sort(), 'every kind is present');
    assert.deepEqual(seen, [{ kind: 'healed', envId: 'env-1', count: 1 }, { kind: 'orphan-removed', envId: 'env-2', count: 3 }]);
  });
});
