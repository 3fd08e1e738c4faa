import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planAdmission, type Slot } from '../../core/app/admission.js';
import { ConfigError, loadConfig } from '../../core/config/config.js';

const MiB = 1024 ** 2;
const slot = (id: string, owner = 'a', mem = 100 * MiB): Slot => ({ id, owner, memoryBytes: mem });
const none = { maxEnvironments: 0, maxPerOwner: 0, memoryBudgetBytes: 0 };

describe('admission plan', () => {
  it('when no limit is set, then everyone in line starts', () => {
    const plan = planAdmission([slot('h1')], [slot('q1'), slot('q2')], none);
    assert.deepEqual(plan.admitted, ['q1', 'q2']);
    assert.equal(plan.waiting.size, 0);
  });

  it('when the global limit is reached, then the rest wait in arrival order with positions 1, 2, ...', () => {
    const plan = planAdmission([slot('h1'), slot('h2')], [slot('q1'), slot('q2'), slot('q3')], { ...none, maxEnvironments: 3 });
    assert.deepEqual(plan.admitted, ['q1']);
    assert.deepEqual([...plan.waiting.entries()].map(([id, p]) => [id, p.position, p.blockedBy]), [['q2', 1, 'environments'], ['q3', 2, 'environments']]);
  });

  it('when one owner is at their limit, then their request waits and does not hold up other owners', () => {
    const plan = planAdmission([slot('h1', 'alice')], [slot('q1', 'alice'), slot('q2', 'bob')], { ...none, maxPerOwner: 1, maxEnvironments: 5 });
    assert.deepEqual(plan.admitted, ['q2']);
    assert.equal(plan.waiting.get('q1')?.blockedBy, 'owner');
    assert.match(plan.waiting.get('q1')!.reason, /alice has 1 of at most 1/);
  });

  it('when the head of the line does not fit the memory budget, then smaller ones behind it wait too (FIFO, no starvation)', () => {
    const plan = planAdmission([slot('h1', 'a', 600 * MiB)], [slot('big', 'a', 500 * MiB), slot('small', 'b', 100 * MiB)], { ...none, memoryBudgetBytes: 1024 * MiB });
    assert.deepEqual(plan.admitted, []);
    assert.equal(plan.waiting.get('big')?.blockedBy, 'memory');
    assert.equal(plan.waiting.get('small')?.blockedBy, 'line');
  });

  it('when a request needs more than the whole budget, then it waits without blocking the line', () => {
    const plan = planAdmission([], [slot('huge', 'a', 2048 * MiB), slot('ok', 'b')], { ...none, memoryBudgetBytes: 1024 * MiB });
    assert.deepEqual(plan.admitted, ['ok']);
    assert.equal(plan.waiting.get('huge')?.blockedBy, 'too-large');
  });

  it('when several fit, then the plan counts each admitted one against the limits', () => {
    const plan = planAdmission([], [slot('q1', 'a', 400 * MiB), slot('q2', 'b', 400 * MiB), slot('q3', 'c', 400 * MiB)], { ...none, memoryBudgetBytes: 1000 * MiB });
    assert.deepEqual(plan.admitted, ['q1', 'q2']);
    assert.equal(plan.waiting.get('q3')?.blockedBy, 'memory');
  });
});

describe('admission plan with per-node budgets (a swarm)', () => {
  const nodes = { ...none, nodes: ['n1', 'n2', 'n3'] };
  const on = (id: string, node: string | null, mem = 100 * MiB): Slot => ({ id, owner: id, memoryBytes: mem, node });

  it('when environments arrive, then each is placed on the least loaded node, spreading them over all nodes', () => {
    const plan = planAdmission([on('h1', 'n1')], [slot('q1'), slot('q2'), slot('q3')], { ...nodes, perNodeMaxEnvironments: 2 });
    assert.deepEqual(plan.admitted, ['q1', 'q2', 'q3']);
    assert.deepEqual(Object.fromEntries(plan.placed), { q1: 'n2', q2: 'n3', q3: 'n1' });
  });

  it('when every node holds its limit, then the next ones wait saying so, with each node\'s load', () => {
    const plan = planAdmission([on('h1', 'n1'), on('h2', 'n2'), on('h3', 'n3')], [slot('q1'), slot('q2', 'b')], { ...nodes, perNodeMaxEnvironments: 1, maxEnvironments: 10 });
    assert.deepEqual(plan.admitted, []);
    assert.equal(plan.waiting.get('q1')?.blockedBy, 'nodes');
    assert.equal(plan.waiting.get('q1')?.reason, 'every node is at its budget of 1 environment(s) (MAYFLY_NODE_MAX_ENVIRONMENTS, MAYFLY_NODE_MEMORY_BUDGET): n1: 1, 100 MiB; n2: 1, 100 MiB; n3: 1, 100 MiB');
    assert.equal(plan.waiting.get('q2')?.blockedBy, 'nodes');
  });

  it('when the head of the line fits no node\'s memory, then a smaller one behind it waits too (FIFO, no starvation)', () => {
    const plan = planAdmission([on('h1', 'n1', 500 * MiB), on('h2', 'n2', 500 * MiB), on('h3', 'n3', 500 * MiB)],
      [slot('big', 'a', 200 * MiB), slot('small', 'b', 50 * MiB)], { ...nodes, perNodeMemoryBudgetBytes: 600 * MiB });
    assert.deepEqual(plan.admitted, []);
    assert.equal(plan.waiting.get('big')?.blockedBy, 'nodes');
    assert.equal(plan.waiting.get('small')?.blockedBy, 'line');
    assert.match(plan.waiting.get('small')!.reason, /waiting for capacity \(every node's budget\)/);
  });

  it('when a node\'s memory budget has no room for it, then it goes to a node that has, even one holding more environments', () => {
    const plan = planAdmission([on('h1', 'n1', 300 * MiB), on('h2', 'n2', 300 * MiB), on('h3', 'n3', 100 * MiB), on('h4', 'n3', 100 * MiB)],
      [slot('q1', 'a', 384 * MiB)], { ...nodes, perNodeMemoryBudgetBytes: 600 * MiB });
    assert.deepEqual(Object.fromEntries(plan.placed), { q1: 'n3' });
  });

  it('when one holding environment has no node recorded yet, then it counts on the least loaded node', () => {
    const plan = planAdmission([on('h1', 'n1'), on('h2', null)], [slot('q1')], { ...nodes, nodes: ['n1', 'n2'], perNodeMaxEnvironments: 1 });
    assert.deepEqual(plan.admitted, []);
    assert.equal(plan.waiting.get('q1')?.blockedBy, 'nodes');
  });

  it('when per-node budgets are unset, then the totals alone decide who starts, and each one started is still placed on the least loaded node', () => {
    const plan = planAdmission([on('h1', 'n1')], [slot('q1'), slot('q2')], { ...nodes, maxEnvironments: 2 });
    assert.deepEqual(plan.admitted, ['q1']);
    assert.equal(plan.waiting.get('q2')?.blockedBy, 'environments');
    assert.deepEqual(Object.fromEntries(plan.placed), { q1: 'n2' });
  });

  it('when 12 environments are requested at once on 3 nodes without per-node budgets, then they are placed 4, 4 and 4', () => {
    const line = Array.from({ length: 12 }, (_, i) => slot(`q${i + 1}`, `owner${i % 5}`));
    const plan = planAdmission([], line, nodes);
    assert.equal(plan.admitted.length, 12);
    assert.equal(plan.waiting.size, 0);
    const perNode: Record<string, number> = {};
    for (const n of plan.placed.values()) perNode[n] = (perNode[n] ?? 0) + 1;
    assert.deepEqual(perNode, { n1: 4, n2: 4, n3: 4 });
    assert.deepEqual(line.slice(0, 6).map((s) => plan.placed.get(s.id)), ['n1', 'n2', 'n3', 'n1', 'n2', 'n3'], 'round the nodes, in arrival order');
  });

  it('when environments placed earlier are still provisioning (not running yet), then they count: the next ones go to the other nodes', () => {
    // Admitted one by one (a transaction each, as the workers do): each decision sees the ones before it.
    const holding: Slot[] = [on('h1', 'n1'), on('h2', 'n1'), on('h3', 'n1'), on('h4', 'n1')];
    for (let i = 1; i <= 8; i++) {
      const plan = planAdmission(holding, [slot(`q${i}`)], nodes);
      assert.deepEqual(plan.admitted, [`q${i}`]);
      holding.push(on(`q${i}`, plan.placed.get(`q${i}`)!));
    }
    const perNode: Record<string, number> = {};
    for (const s of holding) perNode[s.node!] = (perNode[s.node!] ?? 0) + 1;
    assert.deepEqual(perNode, { n1: 4, n2: 4, n3: 4 });
  });

  it('when the load in environments is equal, then the node with the least declared memory is chosen', () => {
    const plan = planAdmission([on('h1', 'n1', 300 * MiB), on('h2', 'n2', 100 * MiB), on('h3', 'n3', 200 * MiB)], [slot('q1')], nodes);
    assert.deepEqual(Object.fromEntries(plan.placed), { q1: 'n2' });
  });

  it('when no nodes are known (one Docker host), then nothing is placed', () => {
    const plan = planAdmission([], [slot('q1'), slot('q2')], none);
    assert.deepEqual(plan.admitted, ['q1', 'q2']);
    assert.equal(plan.placed.size, 0);
  });
});

describe('admission configuration', () => {
  it('when the variables are unset, then nothing is limited', () => {
    const c = loadConfig({});
    assert.deepEqual({ ...c.admission }, { maxEnvironments: 0, maxPerOwner: 0, memoryBudgetBytes: 0, recheckMs: 60_000, nodes: [], perNodeMaxEnvironments: 0, perNodeMemoryBudgetBytes: 0 });
  });

  it('when they are set, then they are parsed', () => {
    const c = loadConfig({ MAYFLY_MAX_ENVIRONMENTS: '3', MAYFLY_MAX_ENVIRONMENTS_PER_OWNER: '2', MAYFLY_MEMORY_BUDGET: '8g' });
    assert.equal(c.admission.maxEnvironments, 3);
    assert.equal(c.admission.maxPerOwner, 2);
    assert.equal(c.admission.memoryBudgetBytes, 8 * 1024 ** 3);
  });

  it('when a value is wrong, then the error names the variable', () => {
    assert.throws(() => loadConfig({ MAYFLY_MAX_ENVIRONMENTS: '-1' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_MAX_ENVIRONMENTS /.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_MEMORY_BUDGET: 'lots' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_MEMORY_BUDGET/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_NODE_MAX_ENVIRONMENTS: '2' }), (e: unknown) => e instanceof ConfigError && /MAYFLY_NODE_MAX_ENVIRONMENTS .*only with MAYFLY_RUNTIME=swarm/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_RUNTIME: 'swarm', MAYFLY_SWARM_NODES: 'n1=unix:///a', MAYFLY_SWARM_MANAGER: 'unix:///a', MAYFLY_NODE_MEMORY_BUDGET: 'big' }),
      (e: unknown) => e instanceof ConfigError && /MAYFLY_NODE_MEMORY_BUDGET/.test(e.message));
  });

  it('when the runtime is swarm, then the nodes come from MAYFLY_SWARM_NODES even without per-node budgets (admission places every environment)', () => {
    const c = loadConfig({ MAYFLY_RUNTIME: 'swarm', MAYFLY_SWARM_MANAGER: 'unix:///a', MAYFLY_SWARM_NODES: 'n1=unix:///a,n2=unix:///b,n3=unix:///c' });
    assert.deepEqual([...c.admission.nodes], ['n1', 'n2', 'n3']);
    assert.equal(c.admission.perNodeMaxEnvironments, 0);
    assert.equal(c.admission.perNodeMemoryBudgetBytes, 0);
    assert.deepEqual([...loadConfig({ MAYFLY_RUNTIME: 'docker', MAYFLY_SWARM_NODES: 'n1=unix:///a' }).admission.nodes], [], 'one Docker host: no nodes, no placement');
  });

  it('when per-node budgets are set on a swarm, then the nodes come from MAYFLY_SWARM_NODES', () => {
    const c = loadConfig({ MAYFLY_RUNTIME: 'swarm', MAYFLY_SWARM_MANAGER: 'unix:///a', MAYFLY_SWARM_NODES: 'n1=unix:///a,n2=unix:///b', MAYFLY_NODE_MAX_ENVIRONMENTS: '4', MAYFLY_NODE_MEMORY_BUDGET: '6g' });
    assert.deepEqual([...c.admission.nodes], ['n1', 'n2']);
    assert.equal(c.admission.perNodeMaxEnvironments, 4);
    assert.equal(c.admission.perNodeMemoryBudgetBytes, 6 * 1024 ** 3);
  });
});
