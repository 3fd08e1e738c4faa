/**
 * Admission: how many environments may hold capacity at once (globally, per owner) and how much
 * of the host's memory their declared limits may add up to. Past a limit an environment waits in
 * line (status stays `queued`, FIFO by `queued_at`) and starts when capacity frees.
 *
 * An environment *holds capacity* from the moment admission moves it to `provisioning` until it
 * fails or is destroyed (a trigger clears `holds_capacity` then): `provisioning`, `ready`,
 * `sleeping` (its containers are stopped, but it keeps its volumes and name and wakes without
 * asking admission again, so it keeps its slot), `destroying` (its containers still exist), and
 * `queued` again for a redeploy or a database reset of an environment that was running (its old
 * containers keep running meanwhile, so it never waits in line behind others).
 *
 * Every decision that takes capacity runs under one PostgreSQL advisory lock, in the transaction
 * that moves the environment to `provisioning`, so concurrent workers and API requests can never
 * exceed a limit.
 */
import type pg from 'pg';
import type { Config } from '../config/config.js';
import { CapacityError, StackError } from '../domain/errors.js';
import type { TemplateCatalog } from '../catalog/templates.js';
import { EnvironmentStore, NOW } from '../store/environments.js';
import { PoolStore } from '../store/warm-pool.js';

const ADMISSION_LOCK = 7_261_432_006; // arbitrary, constant: "mayfly admission"
/** The owner warm-pool standbys are counted under in admission (a name no door gives an owner). */
export const POOL_OWNER = 'warm pool';

export interface AdmissionLimits {
  maxEnvironments: number;
  maxPerOwner: number;
  memoryBudgetBytes: number;
  /**
   * Nodes to place environments on (a swarm's hostnames): every admitted environment is placed on
   * the least loaded one, with or without per-node budgets. Empty: one host, no placement.
   */
  nodes?: readonly string[];
  perNodeMaxEnvironments?: number;
  perNodeMemoryBudgetBytes?: number;
}

export interface Slot {
  id: string;
  owner: string;
  memoryBytes: number;
  /** The node it is placed on (holding ones; null while it has none recorded). */
  node?: string | null;
}

/**
 * Why a request waits: the global count, its owner's count, the memory budget, every node's
 * budget, or an earlier request.
 */
export type Blocker = 'environments' | 'owner' | 'memory' | 'nodes' | 'line' | 'too-large';

export interface WaitingPlace {
  /** 1-based place among the waiting ones, in arrival order. */
  position: number;
  blockedBy: Blocker;
  reason: string;
}

export interface Plan {
  /** Waiting ones that fit now, in the order they would start. */
  admitted: string[];
  /** When nodes are known (a swarm): the node each admitted one is placed on (the least loaded that fits). */
  placed: Map<string, string>;
  waiting: Map<string, WaitingPlace>;
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)} MiB`;

/**
 * Which waiting requests may start, given what holds capacity now. FIFO: a request blocked by the
 * global count or the memory budget blocks everyone behind it (so a big one is not starved by
 * small ones); a request blocked only by its own owner's limit does not hold up other owners.
 */
export function planAdmission(holding: readonly Slot[], line: readonly Slot[], limits: AdmissionLimits): Plan {
  let count = holding.length;
  let memory = holding.reduce((sum, s) => sum + s.memoryBytes, 0);
  const perOwner = new Map<string, number>();
  for (const s of holding) perOwner.set(s.owner, (perOwner.get(s.owner) ?? 0) + 1);
  const nodes = perNodeLoads(holding, limits);
  const placed = new Map<string, string>();
  const admitted: string[] = [];
  const waiting = new Map<string, WaitingPlace>();
  let blockedAhead: { blocker: Blocker; reason: string } | undefined;
  const wait = (s: Slot, blockedBy: Blocker, reason: string) => waiting.set(s.id, { position: waiting.size + 1, blockedBy, reason });

  for (const s of line) {
    const owned = perOwner.get(s.owner) ?? 0;
    if (limits.memoryBudgetBytes && s.memoryBytes > limits.memoryBudgetBytes) {
      wait(s, 'too-large', `it needs ${mib(s.memoryBytes)}, more than the whole memory budget of ${mib(limits.memoryBudgetBytes)}`);
      continue;
    }
    if (limits.maxPerOwner && owned >= limits.maxPerOwner) {
      wait(s, 'owner', `${s.owner} has ${owned} of at most ${limits.maxPerOwner} environments running`);
      continue;
    }
    if (limits.maxEnvironments && count >= limits.maxEnvironments) {
      blockedAhead ??= { blocker: 'environments', reason: `all ${limits.maxEnvironments} environment slots are taken` };
      wait(s, 'environments', `all ${limits.maxEnvironments} environment slots are taken`);
      continue;
    }
    if (limits.memoryBudgetBytes && memory + s.memoryBytes > limits.memoryBudgetBytes) {
      blockedAhead ??= { blocker: 'memory', reason: 'memory' };
      wait(s, 'memory', `the memory budget is ${mib(limits.memoryBudgetBytes)}, ${mib(Math.max(0, limits.memoryBudgetBytes - memory))} free, and it needs ${mib(s.memoryBytes)}`);
      continue;
    }
    let node: NodeLoad | undefined;
    if (nodes) {
      node = fittingNode(nodes, s.memoryBytes, limits);
      if (!node) {
        const why = nodesFull(nodes, limits);
        blockedAhead ??= { blocker: 'nodes', reason: why };
        wait(s, 'nodes', why);
        continue;
      }
    }
    if (blockedAhead) {
      wait(s, 'line', `an earlier request is waiting for capacity (${BLOCKER_NAMES[blockedAhead.blocker]}) and goes first`);
      continue;
    }
    admitted.push(s.id);
    count++;
    memory += s.memoryBytes;
    perOwner.set(s.owner, owned + 1);
    if (node) {
      node.environments++;
      node.memoryBytes += s.memoryBytes;
      placed.set(s.id, node.node);
    }
  }
  return { admitted, placed, waiting };
}

const BLOCKER_NAMES: Record<Blocker, string> = {
  environments: 'environment slots', memory: 'memory budget', nodes: 'every node\'s budget', owner: 'owner limit', line: 'line', 'too-large': 'too large',
};

interface NodeLoad { node: string; environments: number; memoryBytes: number }

/**
 * What each node holds, when nodes are known (undefined on one host). Every environment holding
 * capacity counts, running or not yet: one admitted a moment ago and still provisioning counts on
 * its node as much as a ready one, so concurrent requests spread instead of all seeing the same
 * empty nodes. One with no node recorded (or one no longer configured) counts on the least loaded
 * node: a conservative guess until its worker records where it landed.
 */
function perNodeLoads(holding: readonly Slot[], limits: AdmissionLimits): NodeLoad[] | undefined {
  if (!limits.nodes?.length) return undefined;
  const loads = limits.nodes.map((node) => ({ node, environments: 0, memoryBytes: 0 }));
  const unplaced: Slot[] = [];
  for (const s of holding) {
    const l = loads.find((x) => x.node === s.node);
    if (l) { l.environments++; l.memoryBytes += s.memoryBytes; } else unplaced.push(s);
  }
  for (const s of unplaced) {
    const l = [...loads].sort(byLoad)[0]!;
    l.environments++;
    l.memoryBytes += s.memoryBytes;
  }
  return loads;
}

const byLoad = (a: NodeLoad, b: NodeLoad) => a.environments - b.environments || a.memoryBytes - b.memoryBytes || a.node.localeCompare(b.node);

/**
 * The least loaded node (fewest environments, then least memory, then by name) where one more of
 * `need` bytes fits its budgets (any node when no per-node budget is set).
 */
function fittingNode(loads: NodeLoad[], need: number, limits: AdmissionLimits): NodeLoad | undefined {
  return loads.filter((l) => (!limits.perNodeMaxEnvironments || l.environments < limits.perNodeMaxEnvironments)
    && (!limits.perNodeMemoryBudgetBytes || l.memoryBytes + need <= limits.perNodeMemoryBudgetBytes)).sort(byLoad)[0];
}

function nodesFull(loads: NodeLoad[], limits: AdmissionLimits): string {
  const budget = [
    limits.perNodeMaxEnvironments ? `${limits.perNodeMaxEnvironments} environment(s)` : '',
    limits.perNodeMemoryBudgetBytes ? `${mib(limits.perNodeMemoryBudgetBytes)}` : '',
  ].filter(Boolean).join(' and ');
  const each = loads.map((l) => `${l.node}: ${l.environments}, ${mib(l.memoryBytes)}`).join('; ');
  return `every node is at its budget of ${budget} (MAYFLY_NODE_MAX_ENVIRONMENTS, MAYFLY_NODE_MEMORY_BUDGET): ${each}`;
}

/** What the API, Slack and the web pages show about a waiting environment. */
export interface QueueInfo {
  position: number;
  estimatedStartSeconds: number;
  reason: string;
}

export type StartOutcome =
  | { outcome: 'started' }
  | { outcome: 'waiting'; place: WaitingPlace }
  | { outcome: 'not-queued'; status: string | undefined };

interface LineRow { id: string; owner: string; template: string; generation: number; expires_at: Date; status: string; node: string | null }

/** Without history, the estimate assumes provisioning takes this long. */
const DEFAULT_PROVISION_SECONDS = 30;

export class Admission {
  private readonly memory = new Map<string, number>();
  readonly limits: AdmissionLimits;

  constructor(private readonly pool: pg.Pool, private readonly catalog: TemplateCatalog, private readonly config: Config) {
    this.limits = config.admission;
  }

  /** Whether any limit is set at all. */
  get limited(): boolean {
    return !!(this.limits.maxEnvironments || this.limits.maxPerOwner || this.limits.memoryBudgetBytes
      || (this.limits.nodes?.length && (this.limits.perNodeMaxEnvironments || this.limits.perNodeMemoryBudgetBytes)));
  }

  /**
   * A template's declared memory: the sum of its services' `mem_limit`, with the default limit
   * (MAYFLY_DEFAULT_MEMORY) for a service that declares none. A template no longer in the catalog
   * counts as one service at the default.
   */
  memoryOf(template: string): number {
    let bytes = this.memory.get(template);
    if (bytes !== undefined) return bytes;
    if (!this.catalog.has(template)) return this.config.defaultLimits.memoryBytes;
    const t = this.catalog.get(template);
    const stack = this.catalog.render(template, {
      env: { id: '00000000-0000-0000-0000-000000000000', name: 'admission', project: 'admission' },
      images: Object.fromEntries(Object.entries(t.images).map(([s, i]) => [s, i.image])),
    });
    bytes = stack.services.reduce((sum, s) => sum + s.limits.memoryBytes, 0);
    this.memory.set(template, bytes);
    return bytes;
  }

  /** Refuses at once a template that can never fit the memory budget (it would wait forever). */
  assertCanEverFit(template: string): void {
    const budget = this.limits.memoryBudgetBytes;
    const need = this.memoryOf(template);
    if (budget && need > budget) {
      throw new StackError('OVER_MEMORY_BUDGET', `template "${template}" declares ${mib(need)} of memory, more than this host's whole budget (MAYFLY_MEMORY_BUDGET, ${mib(budget)})`,
        [{ field: 'template', message: `needs ${mib(need)}; the budget is ${mib(budget)}` }]);
    }
    const perNode = this.limits.nodes?.length ? this.limits.perNodeMemoryBudgetBytes : 0;
    if (perNode && need > perNode) {
      throw new StackError('OVER_MEMORY_BUDGET', `template "${template}" declares ${mib(need)} of memory, more than one node's budget (MAYFLY_NODE_MEMORY_BUDGET, ${mib(perNode)})`,
        [{ field: 'template', message: `needs ${mib(need)}; a node's budget is ${mib(perNode)}` }]);
    }
  }

  private async snapshot(q: pg.Pool | pg.PoolClient): Promise<{ holding: LineRow[]; line: LineRow[] }> {
    const [holding, line] = await Promise.all([
      // Warm-pool standbys hold capacity too (their containers run): never past a limit, and
      // counted under an owner of their own (POOL_OWNER), so no one's per-owner limit pays for them.
      q.query<LineRow>(`SELECT id, owner, template, generation, expires_at, status, node FROM environments
                        WHERE holds_capacity AND status NOT IN ('failed', 'destroyed')
                        UNION ALL
                        SELECT id, '${POOL_OWNER}', template, 0, now() + interval '100 years', 'standby', NULL FROM pool_standbys`),
      q.query<LineRow>(`SELECT id, owner, template, generation, expires_at, status, node FROM environments
                        WHERE status = 'queued' AND NOT holds_capacity ORDER BY queued_at, id`),
    ]);
    return { holding: holding.rows, line: line.rows };
  }

  /**
   * What admission holds now, for /metrics: the environments holding capacity and the memory
   * their templates declare (what MAYFLY_MEMORY_BUDGET is spent on), and those waiting in line.
   */
  async usage(): Promise<{ holding: number; waiting: number; reservedMemoryBytes: number; memoryBudgetBytes: number }> {
    const { holding, line } = await this.snapshot(this.pool);
    return {
      holding: holding.length, waiting: line.length,
      reservedMemoryBytes: holding.reduce((sum, r) => sum + this.memoryOf(r.template), 0),
      memoryBudgetBytes: this.limits.memoryBudgetBytes,
    };
  }

  private slot = (r: LineRow): Slot => ({ id: r.id, owner: r.owner, memoryBytes: this.memoryOf(r.template), node: r.node });

  private plan(s: { holding: LineRow[]; line: LineRow[] }): Plan {
    return planAdmission(s.holding.map(this.slot), s.line.map(this.slot), this.limits);
  }

  /**
   * Inside `client`'s open transaction: takes the admission lock, and moves the queued environment
   * to `provisioning` (holding capacity) when it fits, or records why it waits. The lock is held
   * until the caller commits, so the decision and the move are one atomic step.
   */
  async startInTx(client: pg.PoolClient, envId: string, generation: number | undefined, message: string): Promise<StartOutcome> {
    await client.query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
    const store = new EnvironmentStore(client);
    const { rows } = await client.query<{ status: string; generation: number; holds_capacity: boolean; waiting_reason: string | null }>(
      'SELECT status, generation, holds_capacity, waiting_reason FROM environments WHERE id = $1 FOR UPDATE', [envId]);
    const row = rows[0];
    if (!row || row.status !== 'queued' || (generation !== undefined && row.generation !== generation)) {
      return { outcome: 'not-queued', status: row?.status };
    }
    let node: string | undefined;
    if (!row.holds_capacity) {
      const plan = this.plan(await this.snapshot(client));
      const place = plan.waiting.get(envId);
      if (place) {
        if (row.waiting_reason !== place.reason) {
          await store.setWaitingReason(envId, place.reason, `waiting in line (position ${place.position}): ${place.reason}`, { position: place.position, blockedBy: place.blockedBy });
        }
        return { outcome: 'waiting', place };
      }
      node = plan.placed.get(envId);
    }
    // A redeploy or a heal keeps its node (the worker records where its database really landed).
    const moved = await store.transition(envId, 'provisioning', {
      from: ['queued'], ...(generation !== undefined ? { generation } : {}),
      set: { holds_capacity: true, admitted_at: NOW, ...(node ? { node } : {}) },
      event: { type: 'provisioning', message: node ? `${message}; placed on node ${node}` : message,
        ...(row.holds_capacity ? {} : { data: { admitted: true, ...(node ? { node } : {}) } }) },
    });
    if (!moved) return { outcome: 'not-queued', status: row.status };
    return { outcome: 'started' };
  }

  /** The worker's step from `queued` to `provisioning`: starts the environment or says why it waits. */
  async tryStart(envId: string, generation: number, message: string): Promise<StartOutcome> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const outcome = await this.startInTx(client, envId, generation, message);
      await client.query('COMMIT');
      return outcome;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * For a caller that will not wait (`?queue=false`): inside the transaction that records the
   * request, starts it at once or throws CapacityError (the caller rolls back: nothing is created).
   */
  async startNowOrRefuse(client: pg.PoolClient, envId: string): Promise<void> {
    const outcome = await this.startInTx(client, envId, undefined, 'provisioning started (admitted at once)');
    if (outcome.outcome !== 'waiting') return;
    const info = await this.estimate(client, outcome.place, envId);
    throw new CapacityError(`no capacity now: ${outcome.place.reason}; retry in about ${info} s, or ask without queue=false to wait in line`,
      info, { reason: outcome.place.reason, blockedBy: outcome.place.blockedBy });
  }

  /** Queue positions and estimates of every waiting environment. */
  async lineInfo(): Promise<Map<string, QueueInfo>> {
    const out = new Map<string, QueueInfo>();
    if (!this.limited) return out;
    const snap = await this.snapshot(this.pool);
    if (!snap.line.length) return out;
    const plan = this.plan(snap);
    const provisionSeconds = await this.recentProvisionSeconds(this.pool);
    for (const [id, place] of plan.waiting) {
      out.set(id, { position: place.position, reason: place.reason, estimatedStartSeconds: this.estimateFrom(snap.holding, place, snap.line.find((r) => r.id === id)?.owner, provisionSeconds) });
    }
    return out;
  }

  /**
   * Whether one more warm-pool standby of `template` fits now: within every limit, and only
   * when no request waits in line (a standby never takes capacity a request is waiting for).
   * Decided under the admission lock; the caller inserts the standby's row in the same
   * transaction (`insert`), so it is counted before anyone else decides.
   */
  async startStandby(template: string, insert: (client: pg.PoolClient) => Promise<void>): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
      const snap = await this.snapshot(client);
      const probe = { id: 'standby', owner: POOL_OWNER, memoryBytes: this.memoryOf(template) };
      const fits = snap.line.length === 0 && planAdmission(snap.holding.map(this.slot), [probe], { ...this.limits, maxPerOwner: 0 }).admitted.length === 1;
      if (fits) await insert(client);
      await client.query('COMMIT');
      return fits;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** The warm pool per template (standbys by status, hits, misses) beside each template's configured size. */
  async poolStats(): Promise<{ template: string; size: number; starting: number; ready: number; draining: number; hits: number; misses: number }[]> {
    const rows = new Map((await new PoolStore(this.pool).stats()).map((r) => [r.template, r]));
    const out = this.catalog.list().filter((t) => t.pool.size > 0 || rows.has(t.name)).map((t) => ({
      template: t.name, size: t.pool.size, starting: 0, ready: 0, draining: 0, hits: 0, misses: 0, ...rows.get(t.name),
    }));
    return out;
  }

  /** Ids and generations of waiting environments that fit now (to wake their jobs). */
  async startable(): Promise<{ id: string; generation: number }[]> {
    if (!this.limited) return [];
    const snap = await this.snapshot(this.pool);
    const plan = this.plan(snap);
    const admitted = new Set(plan.admitted);
    return snap.line.filter((r) => admitted.has(r.id)).map((r) => ({ id: r.id, generation: r.generation }));
  }

  private async estimate(q: pg.PoolClient, place: WaitingPlace, envId: string): Promise<number> {
    const snap = await this.snapshot(q);
    const owner = snap.line.find((r) => r.id === envId)?.owner;
    return this.estimateFrom(snap.holding, place, owner, await this.recentProvisionSeconds(q));
  }

  /**
   * Rough on purpose: the `position`-th soonest lease end among what holds capacity (its owner's
   * own ones when the owner limit blocks it), plus how long provisioning took recently. An
   * environment being destroyed frees its slot in about a teardown's time.
   */
  private estimateFrom(holding: LineRow[], place: WaitingPlace, owner: string | undefined, provisionSeconds: number): number {
    const now = Date.now();
    // Blocked by every node's budget: any node that frees a slot will do, so the soonest ends over all of them.
    const relevant = place.blockedBy === 'owner' ? holding.filter((r) => r.owner === owner) : holding;
    const ends = relevant.map((r) => (r.status === 'destroying' ? now + 5000 : r.expires_at.getTime())).sort((a, b) => a - b);
    const index = Math.min(place.position, ends.length) - 1;
    const freeAt = index >= 0 ? ends[index]! : now;
    return Math.max(1, Math.round((freeAt - now) / 1000 + provisionSeconds));
  }

  private async recentProvisionSeconds(q: pg.Pool | pg.PoolClient): Promise<number> {
    const { rows } = await q.query<{ s: number | null }>(
      `SELECT avg(extract(epoch FROM ready_at - admitted_at))::float AS s FROM (
         SELECT ready_at, admitted_at FROM environments WHERE ready_at IS NOT NULL AND admitted_at IS NOT NULL AND ready_at >= admitted_at
         ORDER BY ready_at DESC LIMIT 20) recent`);
    return rows[0]?.s ?? DEFAULT_PROVISION_SECONDS;
  }
}
