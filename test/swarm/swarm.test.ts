/**
 * Mayfly on a real 3-node Docker Swarm (MAYFLY_RUNTIME=swarm), started by this file
 * (test/helpers/swarm-lab.ts): three dockerd nodes, each in its own network namespace. Traffic
 * goes only to loopback and to addresses inside the namespaces the lab made (10.241.0.0/24).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { AUTH, startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { labelledEverywhere, startSwarmLab, type SwarmLab } from '../helpers/swarm-lab.js';
import type { EnvironmentRef, Runtime } from '../../worker/runtime/runtime.js';
import { dockerFor } from '../../worker/runtime/swarm/cluster.js';

async function page(url: string, init?: RequestInit): Promise<{ status: number; products: number | undefined }> {
  const res = await fetch(url, init);
  const html = await res.text();
  return { status: res.status, products: Number(/<h2>(\d+) products/.exec(html)?.[1]) || undefined };
}

interface Placed { service: string; node: string; state: string }

type Answer = { status: number; apiVersion: string | undefined; body: string } | { error: string };

/** One GET, answered or not (no answer: the error's code, or its message). */
function probe(url: string, tls?: https.RequestOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, apiVersion: res.headers['api-version'] as string | undefined, body }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    };
    const req = url.startsWith('https:') ? https.get(url, { ...tls, agent: false, timeout: 10_000 }, onResponse) : http.get(url, { agent: false, timeout: 10_000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

/** Where each service of an environment runs now: the newest task of each, by node hostname. */
async function placement(lab: SwarmLab, envId: string): Promise<Placed[]> {
  const services = await lab.manager.listServices({ filters: { label: [`mayfly.env=${envId}`] } });
  const out: Placed[] = [];
  for (const s of services) {
    const tasks = (await lab.manager.listTasks({ filters: { service: [s.Spec!.Name!] } })) as unknown as { NodeID: string; CreatedAt: string; Status: { State: string } }[];
    const t = tasks.sort((a, b) => b.CreatedAt.localeCompare(a.CreatedAt))[0];
    if (t) out.push({ service: s.Spec!.Labels!['com.docker.compose.service']!, node: await lab.hostOf(t.NodeID), state: t.Status.State });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

/** The nodes that hold a volume of that name. */
async function holders(lab: SwarmLab, volume: string): Promise<string[]> {
  const found: string[] = [];
  for (const n of lab.nodes) if (await n.docker.getVolume(volume).inspect().then(() => true, () => false)) found.push(n.host);
  return found;
}

async function setAvailability(lab: SwarmLab, host: string, availability: 'active' | 'drain'): Promise<void> {
  const node = lab.manager.getNode(await lab.nodeId(host));
  const info = await node.inspect() as { Version: { Index: number }; Spec: Record<string, unknown> };
  await node.update({ version: info.Version.Index, ...info.Spec, Availability: availability });
}

/** Cuts a lab node off the network (its link to the hub down), or joins it again: a lost node, as the manager sees it. */
function cutOff(host: string, cut: boolean): void {
  execFileSync('ip', ['-n', host, 'link', 'set', 'eth0', cut ? 'down' : 'up']);
}

describe('Mayfly on a 3-node Docker Swarm', () => {
  let lab: SwarmLab;
  let h: Harness;
  const timings: Record<string, number> = {};

  before(async () => {
    const t = Date.now();
    lab = await startSwarmLab(3);
    timings.labUpMs = Date.now() - t;
    // One environment per node at most (per-node admission): the tests never run more than three at once.
    h = await startHarness({ env: { ...lab.env, MAYFLY_HEALTH_TIMEOUT: '240s', MAYFLY_SWARM_PENDING_GRACE: '3s', MAYFLY_NODE_MAX_ENVIRONMENTS: '1' } });
  });

  after(async () => {
    try {
      await h?.close();
      // The goldens this instance built, on every node.
      for (const n of lab?.nodes ?? []) {
        const { Volumes } = await n.docker.listVolumes({ filters: { label: [`mayfly.instance=${h.config.instance}`] } });
        for (const v of Volumes ?? []) await n.docker.getVolume(v.Name).remove().catch(() => undefined);
      }
    } finally {
      const t = Date.now();
      await lab?.stop();
      console.log(`swarm timings: ${JSON.stringify({ ...timings, labDownMs: Date.now() - t })}`);
    }
  });

  it('when the worker reaches a non-manager node, then it is over TLS with the lab\'s client certificate, and that node\'s Engine API answers nobody without one, over TLS or plain http', async (t) => {
    const manager = lab.nodes[0]!;
    const settings = h.config.swarm!;
    assert.equal(settings.manager.url, manager.url, 'the manager is reached on its unix socket');
    assert.equal(settings.tlsDir, path.resolve(lab.tlsDir), 'the worker has the lab\'s client certificate');
    const read = (f: string) => readFileSync(path.join(lab.tlsDir, f));
    for (const n of lab.nodes.slice(1)) {
      const url = `tcp://${n.addr}:2376`;
      assert.equal(settings.nodes[n.host]?.url, url, `the worker reaches ${n.host} over tcp`);
      // The worker's own client for that endpoint (TLS with the client certificate) gets that node's answer.
      const info = await dockerFor({ url }, settings.tlsDir).info() as { Name: string };
      assert.equal(info.Name, n.host, `the TLS endpoint at ${url} is ${n.host}'s dockerd`);

      const ping = `https://${n.addr}:2376/_ping`;
      const withCert = await probe(ping, { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') });
      assert.ok('status' in withCert && withCert.status === 200 && withCert.body === 'OK' && withCert.apiVersion, `with the client certificate, ${ping} is Docker's answer: ${JSON.stringify(withCert)}`);
      // The same request, trusting the same CA, without a client certificate: the handshake is refused.
      const noCert = await probe(ping, { ca: read('ca.pem') });
      t.diagnostic(`${n.host} without a client certificate: ${JSON.stringify(noCert)}`);
      assert.ok('error' in noCert, `without a client certificate ${ping} must not answer: ${JSON.stringify(noCert)}`);
      assert.match(noCert.error, /^(ERR_SSL_|EPROTO$|ECONNRESET$|EPIPE$)/, 'a TLS refusal (an alert, or the connection closed in the handshake), not an unreachable port');
      const plain = await probe(`http://${n.addr}:2376/_ping`);
      t.diagnostic(`${n.host} over plain http: ${JSON.stringify(plain)}`);
      assert.ok('error' in plain || (plain.status !== 200 && plain.apiVersion === undefined && plain.body !== 'OK'), `plain http to ${n.addr}:2376 gets no Docker answer: ${JSON.stringify(plain)}`);
    }
  });

  it('when a shop environment is requested, then it is ready with its database pinned where its clone was made, its web on another node answering at that node\'s address and through the router, psql and the seed data there, and teardown leaves nothing on any node', async (t) => {
    const name = uniqueName('swarm-shop');
    const started = Date.now();
    const created = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=600`);
    timings.firstShopCreateToReadyMs = Date.now() - started;
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    const id: string = ready.body.id;
    const env = (await h.store.getById(id))!;
    const ref: EnvironmentRef = { id, project: env.project, generation: env.generation };

    // Services spread over nodes; the database runs on the node that holds its clone, pinned by id.
    const placed = await placement(lab, id);
    t.diagnostic(`placement: ${JSON.stringify(placed)}`);
    const db = placed.find((p) => p.service === 'db')!;
    const web = placed.find((p) => p.service === 'web')!;
    assert.equal(db.state, 'running');
    assert.equal(web.state, 'running');
    assert.notEqual(web.node, db.node, 'web and db run on different nodes');
    const clone = `${env.project}_dbdata`;
    assert.deepEqual(await holders(lab, clone), [db.node], 'the clone exists on the database node only');
    const dbService = await lab.manager.getService(`${env.project}_db`).inspect() as { Spec: { TaskTemplate: { Placement: { Constraints: string[] }; Resources: { Reservations: { MemoryBytes: number } } } } };
    assert.deepEqual(dbService.Spec.TaskTemplate.Placement.Constraints, [`node.id==${await lab.nodeId(db.node)}`], 'pinned by node id, not by a label');
    assert.equal(dbService.Spec.TaskTemplate.Resources.Reservations.MemoryBytes, 256 * 1024 * 1024, 'memory reserved as limited');
    const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events as { type: string; message: string }[];
    assert.ok(events.some((e) => e.type === 'cloned'), `the timeline says the database was cloned: ${events.map((e) => e.type)}`);

    // The endpoint is the web node's address and its host-mode port; it answers there and through the router.
    const webNode = lab.node(web.node);
    assert.match(env.endpoints.web!, new RegExp(`^${webNode.addr.replace(/\./g, '\\.')}:\\d+$`), `endpoint ${env.endpoints.web} is on ${web.node}`);
    assert.deepEqual(await page(`http://${env.endpoints.web}/`), { status: 200, products: 12 }, 'the shop answers at the node address with the seed products (read across nodes from db)');
    assert.deepEqual(await page(ready.body.urls.web, { headers: AUTH }), { status: 200, products: 12 }, 'the router reaches it on its node');

    // psql runs in the database container through its node's own Engine API.
    const psql = await (h.ctx.runtime as Runtime).exec(ref, 'db', ['psql', '-X', '-At', '-U', 'shop', '-d', 'shop', '-c', 'SELECT count(*) FROM products']);
    assert.equal(psql.exitCode, 0, psql.output);
    assert.equal(psql.output.trim(), '12');
    // Logs come through the manager, whatever the node.
    assert.match(await (h.ctx.runtime as Runtime).logs(ref, 'db', 50), /database system is ready to accept connections/);

    // The web's node is drained. The shop's web restarts "no" (compose's default), so the swarm
    // shuts its task down and starts no other: Mayfly heals it (a new generation; the database
    // and its data are kept), the web lands on another node, and the address and router follow.
    try {
      await setAvailability(lab, web.node, 'drain');
      const moved = await waitUntil('web to run on another node and its recorded endpoint to follow', 240_000, async () => {
        const now = (await placement(lab, id)).find((p) => p.service === 'web');
        const e = await h.store.getById(id);
        return now && now.node !== web.node && now.state === 'running' && e?.status === 'ready' && e.endpoints.web?.startsWith(`${lab.node(now.node).addr}:`) ? { now, e } : undefined;
      });
      const after = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events as { type: string; message: string }[];
      t.diagnostic(`drained ${web.node}: web now on ${moved.now.node} at ${moved.e.endpoints.web}\n${after.map((e) => `${e.type}: ${e.message}`).join('\n')}`);
      assert.match(after.find((e) => e.type === 'healing')?.message ?? '', /^web exited with code \d+: redeploying/);
      assert.ok(after.some((e) => /^db: unchanged, kept/.test(e.message)), 'the database is kept');
      assert.equal((await placement(lab, id)).find((p) => p.service === 'db')!.node, db.node, 'the database stays where its data is');
      await waitUntil('the router to reach web on its new node', 60_000, async () => (await page(ready.body.urls.web, { headers: AUTH }).catch(() => undefined))?.products === 12);
    } finally {
      await setAvailability(lab, web.node, 'active');
    }

    const t0 = Date.now();
    const deleted = await h.api('DELETE', `/api/v1/environments/${name}?wait=120`);
    timings.shopTeardownMs = Date.now() - t0;
    assert.equal(deleted.body.status, 'destroyed');
    assert.deepEqual(await labelledEverywhere(lab, `mayfly.env=${id}`), {
      services: 0, networks: 0, ...Object.fromEntries(lab.nodes.map((n) => [n.host, { containers: 0, volumes: 0 }])),
    }, 'nothing of the environment is left on any node');
  });

  it('when two nodes hold the golden, then each clone is made on one of them and its database runs exactly there', async (t) => {
    // The first test built the golden on one node; a second environment lands on another
    // (fewest environments first) and builds the golden there on demand.
    const a = uniqueName('swarm-a'), b = uniqueName('swarm-b');
    const started = Date.now();
    await h.api('PUT', `/api/v1/environments/${a}`, { template: 'shop', ttl: '1h' });
    const ra = await h.api('GET', `/api/v1/environments/${a}?wait=600`);
    assert.equal(ra.body.status, 'ready', JSON.stringify(ra.body.failure));
    await h.api('PUT', `/api/v1/environments/${b}`, { template: 'shop', ttl: '1h' });
    const rb = await h.api('GET', `/api/v1/environments/${b}?wait=600`);
    timings.twoShopsSequentialMs = Date.now() - started;
    assert.equal(rb.body.status, 'ready', JSON.stringify(rb.body.failure));
    const goldens = new Set<string>();
    for (const n of lab.nodes) {
      const { Volumes } = await n.docker.listVolumes({ filters: { label: ['mayfly.golden', `mayfly.instance=${h.config.instance}`] } });
      if ((Volumes ?? []).length) goldens.add(n.host);
    }
    t.diagnostic(`goldens on ${[...goldens]}`);
    assert.ok(goldens.size >= 2, `the golden exists on two nodes or more: ${[...goldens]}`);
    const { rows } = await h.pool.query<{ node: string }>('SELECT node FROM seed_snapshot_nodes ORDER BY node');
    assert.deepEqual(rows.map((r) => r.node), [...goldens].sort(), 'each golden is recorded in PostgreSQL with its node');
    const dbNodes: string[] = [];
    for (const r of [ra, rb]) {
      const env = (await h.store.getById(r.body.id))!;
      const db = (await placement(lab, r.body.id)).find((p) => p.service === 'db')!;
      assert.deepEqual(await holders(lab, `${env.project}_dbdata`), [db.node], `${env.name}: the clone is on its database's node only`);
      assert.ok(goldens.has(db.node), `${env.name}: cloned on a node that has the golden`);
      assert.deepEqual(await page(r.body.urls.web, { headers: AUTH }), { status: 200, products: 12 });
      dbNodes.push(db.node);
    }
    t.diagnostic(`databases on ${dbNodes}`);
    assert.notEqual(dbNodes[0], dbNodes[1], 'the two databases were spread over two nodes');
    for (const n of [a, b]) assert.equal((await h.api('DELETE', `/api/v1/environments/${n}?wait=120`)).body.status, 'destroyed');
  });

  it('when an environment runs on non-manager nodes, then its health shows there, reset-db clones afresh where it runs, and its lease ends on time leaving nothing on any node', async (t) => {
    const name = uniqueName('swarm-ttl');
    await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' });
    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=600`);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    const id: string = ready.body.id;
    const env = (await h.store.getById(id))!;
    const ref: EnvironmentRef = { id, project: env.project, generation: env.generation };
    const managerHost = lab.nodes[0]!.host;
    const placed = await placement(lab, id);
    t.diagnostic(`placement: ${JSON.stringify(placed)}`);
    const remote = placed.filter((p) => p.node !== managerHost);
    assert.ok(remote.length >= 1, `a service runs on a non-manager node: ${JSON.stringify(placed)}`);

    // Health as the pages show it: each service's state and health, wherever it runs.
    const states = await (h.ctx.runtime as Runtime).services(id);
    assert.deepEqual(states.map((s) => [s.service, s.state, s.health]), [['db', 'running', 'healthy'], ['web', 'running', 'healthy']]);

    // reset-db: change the data, reset, and the seed is back in a fresh clone pinned where it was made.
    const psql = (sql: string, r: EnvironmentRef) => (h.ctx.runtime as Runtime).exec(r, 'db', ['psql', '-X', '-At', '-U', 'shop', '-d', 'shop', '-c', sql]);
    const del = await psql('DELETE FROM products WHERE id IN (SELECT id FROM products ORDER BY id LIMIT 5)', ref);
    assert.equal(del.exitCode, 0, del.output);
    assert.deepEqual(await page(ready.body.urls.web, { headers: AUTH }), { status: 200, products: 7 });
    const t0 = Date.now();
    const reset = await h.api('POST', `/api/v1/environments/${name}/reset-db`);
    assert.equal(reset.status, 202, JSON.stringify(reset.body));
    const again = await h.api('GET', `/api/v1/environments/${name}?wait=600`);
    timings.resetDbMs = Date.now() - t0;
    assert.equal(again.body.status, 'ready', JSON.stringify(again.body.failure));
    const db = (await placement(lab, id)).find((p) => p.service === 'db')!;
    t.diagnostic(`after reset-db the database runs on ${db.node}`);
    assert.deepEqual(await holders(lab, `${env.project}_dbdata`), [db.node], 'the fresh clone is on the database node only');
    const count = await psql('SELECT count(*) FROM products', { ...ref, generation: again.body.generation });
    assert.equal(count.output.trim(), '12', 'the seed data is back');
    assert.deepEqual(await page(again.body.urls.web, { headers: AUTH }), { status: 200, products: 12 });

    // The lease ends in a few seconds: the expiry tears it down on every node, the remote ones included.
    const extended = await h.api('POST', `/api/v1/environments/${name}/extend`, { ttl: '5s' });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    const expiresAt = Date.parse(extended.body.expiresAt);
    const gone = await waitUntil('the expired environment to be destroyed', Math.max(0, expiresAt - Date.now()) + 120_000, async () => {
      const e = await h.store.getById(id);
      return e?.status === 'destroyed' ? e : undefined;
    });
    const lateMs = gone.destroyedAt!.getTime() - expiresAt;
    timings.ttlLateMs = lateMs;
    t.diagnostic(`destroyed ${lateMs} ms after expiresAt`);
    assert.ok(lateMs >= 0, 'not torn down before its lease ended');
    assert.equal(gone.destroyReason, 'expired');
    assert.deepEqual(await labelledEverywhere(lab, `mayfly.env=${id}`), {
      services: 0, networks: 0, ...Object.fromEntries(lab.nodes.map((n) => [n.host, { containers: 0, volumes: 0 }])),
    }, 'nothing of the environment is left on any node');
  });

  it('when the node that holds a database is drained, then the reconciler heals the environment on another node with a fresh clone, says so in the timeline, and reaps what the node still holds once it is back', async (t) => {
    const name = uniqueName('swarm-drain');
    await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' });
    const ready = await h.api('GET', `/api/v1/environments/${name}?wait=600`);
    assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
    const id: string = ready.body.id;
    const env = (await h.store.getById(id))!;
    const clone = `${env.project}_dbdata`;
    const drained = (await placement(lab, id)).find((p) => p.service === 'db')!.node;
    const t0 = Date.now();
    let healedOn: string;
    try {
      await setAvailability(lab, drained, 'drain');
      const healed = await waitUntil('the environment to be ready again in a new generation', 600_000, async () => {
        const e = await h.store.getById(id);
        assert.notEqual(e?.status, 'failed', `the heal failed: ${JSON.stringify(e?.failure)}`);
        return e?.status === 'ready' && e.generation > env.generation ? e : undefined;
      });
      timings.drainToReadyElsewhereMs = Date.now() - t0;
      const placed = await placement(lab, id);
      t.diagnostic(`drained ${drained}; placement after the heal: ${JSON.stringify(placed)}`);
      const db = placed.find((p) => p.service === 'db')!;
      healedOn = db.node;
      assert.equal(db.state, 'running');
      assert.notEqual(db.node, drained, 'the database runs on another node');
      assert.deepEqual(await holders(lab, clone), [db.node], 'a fresh clone on the new node only (the drained node\'s copy is gone)');
      const dbService = await lab.manager.getService(`${env.project}_db`).inspect() as { Spec: { TaskTemplate: { Placement: { Constraints: string[] } } } };
      assert.deepEqual(dbService.Spec.TaskTemplate.Placement.Constraints, [`node.id==${await lab.nodeId(db.node)}`], 'pinned to its new node');
      assert.equal(healed.seededAt !== null, true, 'seeded again');
      const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events as { type: string; message: string }[];
      t.diagnostic(events.map((e) => `${e.type}: ${e.message}`).join('\n'));
      const healing = events.find((e) => e.type === 'healing');
      assert.ok(healing, 'the timeline has the heal');
      assert.match(healing.message, new RegExp(`\\bdb\\b.*its data \\(${clone}\\) is on node ${drained} \\(ready, drain\\), which takes no tasks: redeploying with a fresh clone of "demo" on another node`));
      assert.equal(events.filter((e) => e.type === 'cloned').length, 2, 'cloned at creation and again by the heal');
      assert.deepEqual(await page(healed.urls.web!, { headers: AUTH }), { status: 200, products: 12 }, 'the shop serves the seed data from its new database');
      // A node that comes back may still hold a copy of the data (it was lost, not drained, while
      // the environment healed): planted here as such a node would keep it; the reconciler reaps it.
      await lab.node(drained).docker.createVolume({ Name: clone, Labels: { 'mayfly.env': id, 'mayfly.instance': h.config.instance, 'com.docker.compose.volume': 'dbdata' } });
    } finally {
      await setAvailability(lab, drained, 'active');
    }
    await waitUntil('the stale copy on the node that came back to be reaped', 60_000, async () => (await holders(lab, clone)).length === 1 || undefined);
    assert.deepEqual(await holders(lab, clone), [healedOn], 'only the live clone is left');
    assert.equal((await h.store.getById(id))?.status, 'ready', 'the environment stayed ready');
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
    assert.deepEqual(await labelledEverywhere(lab, `mayfly.env=${id}`), {
      services: 0, networks: 0, ...Object.fromEntries(lab.nodes.map((n) => [n.host, { containers: 0, volumes: 0 }])),
    }, 'nothing left on any node, the drained one included');
  });

  it('when the node that holds a database is lost (cut off the network), then the environment heals on another node with a fresh clone, and once the node is back its stale copy is reaped', async (t) => {
    const name = uniqueName('swarm-lost');
    // The manager (n1) is the swarm's only manager: cutting it off would stop the swarm. Drained
    // while the environment starts, it holds neither its database nor its web.
    const manager = lab.nodes[0]!.host;
    let id = '';
    let env: Awaited<ReturnType<typeof h.store.getById>>;
    try {
      await setAvailability(lab, manager, 'drain');
      await h.api('PUT', `/api/v1/environments/${name}`, { template: 'shop', ttl: '1h' });
      const ready = await h.api('GET', `/api/v1/environments/${name}?wait=600`);
      assert.equal(ready.body.status, 'ready', JSON.stringify(ready.body.failure));
      id = ready.body.id;
      env = (await h.store.getById(id))!;
    } finally {
      await setAvailability(lab, manager, 'active');
    }
    const clone = `${env!.project}_dbdata`;
    const lost = (await placement(lab, id)).find((p) => p.service === 'db')!.node;
    assert.notEqual(lost, manager);
    const t0 = Date.now();
    let healedOn: string;
    try {
      cutOff(lost, true);
      const healed = await waitUntil('the environment to be ready again in a new generation', 600_000, async () => {
        const e = await h.store.getById(id);
        assert.notEqual(e?.status, 'failed', `the heal failed: ${JSON.stringify(e?.failure)}`);
        return e?.status === 'ready' && e.generation > env!.generation ? e : undefined;
      });
      timings.lostToReadyElsewhereMs = Date.now() - t0;
      const placed = await placement(lab, id);
      t.diagnostic(`cut off ${lost}; placement after the heal: ${JSON.stringify(placed)}`);
      const db = placed.find((p) => p.service === 'db')!;
      healedOn = db.node;
      assert.equal(db.state, 'running');
      assert.notEqual(db.node, lost, 'the database runs on another node');
      const events = (await h.api('GET', `/api/v1/environments/${name}/events`)).body.events as { type: string; message: string }[];
      t.diagnostic(events.map((e) => `${e.type}: ${e.message}`).join('\n'));
      const healing = events.find((e) => e.type === 'healing');
      assert.ok(healing, 'the timeline has the heal');
      assert.match(healing.message, new RegExp(`\\bdb\\b.*its data \\(${clone}\\) is on node ${lost} \\(down, active\\), which takes no tasks: redeploying with a fresh clone of "demo" on another node`));
      await waitUntil('the router to reach the healed shop', 120_000, async () => (await page(healed.urls.web!, { headers: AUTH }).catch(() => undefined))?.products === 12);
    } finally {
      cutOff(lost, false);
    }
    // Back on the network, the node still holds the old copy of the data: the reconciler reaps it.
    await waitUntil('the stale copy on the node that came back to be reaped', 300_000, async () => {
      const where = await holders(lab, clone);
      return (where.length === 1 && where[0] === healedOn) || undefined;
    });
    assert.equal((await h.store.getById(id))?.status, 'ready', 'the environment stayed ready');
    assert.equal((await h.api('DELETE', `/api/v1/environments/${name}?wait=120`)).body.status, 'destroyed');
    await waitUntil('nothing of it on any node, the lost one included', 120_000, async () => {
      const left = await labelledEverywhere(lab, `mayfly.env=${id}`);
      return Object.values(left).every((v) => (typeof v === 'number' ? v === 0 : v.containers === 0 && v.volumes === 0)) || undefined;
    });
  });

  it('when every node holds its one environment, then the next one waits in line saying so, and starts on the node that frees first', async (t) => {
    const names = [uniqueName('swarm-fill'), uniqueName('swarm-fill'), uniqueName('swarm-fill')];
    const started = Date.now();
    for (const n of names) assert.equal((await h.api('PUT', `/api/v1/environments/${n}`, { template: 'shop', ttl: '1h' })).status, 202);
    const next = uniqueName('swarm-next');
    const queued = await h.api('PUT', `/api/v1/environments/${next}`, { template: 'shop', ttl: '1h' });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    const ready = await Promise.all(names.map((n) => h.api('GET', `/api/v1/environments/${n}?wait=600`)));
    timings.threeAtOnceMs = Date.now() - started;
    const byNode = new Map<string, string>();
    for (const r of ready) {
      assert.equal(r.body.status, 'ready', JSON.stringify(r.body.failure));
      const db = (await placement(lab, r.body.id)).find((p) => p.service === 'db')!;
      assert.equal(r.body.node, db.node, `${r.body.name}: the node admission placed it on is where its database runs`);
      byNode.set(db.node, r.body.name);
    }
    t.diagnostic(`placed: ${JSON.stringify(Object.fromEntries(byNode))}`);
    assert.deepEqual([...byNode.keys()].sort(), lab.nodes.map((n) => n.host).sort(), 'one database on each node');
    const waiting = await h.api('GET', `/api/v1/environments/${next}`);
    assert.equal(waiting.body.status, 'queued');
    assert.equal(waiting.body.queuePosition, 1);
    assert.match(waiting.body.queueReason, /^every node is at its budget of 1 environment\(s\) \(MAYFLY_NODE_MAX_ENVIRONMENTS, MAYFLY_NODE_MEMORY_BUDGET\): mayfly-swarm-n1: 1, \d+ MiB; mayfly-swarm-n2: 1, \d+ MiB; mayfly-swarm-n3: 1, \d+ MiB$/);
    assert.ok(waiting.body.estimatedStartSeconds > 0, 'with an estimate');

    // The environment on n2 goes: the waiting one starts there.
    const freed = lab.nodes[1]!.host;
    assert.equal((await h.api('DELETE', `/api/v1/environments/${byNode.get(freed)}?wait=120`)).body.status, 'destroyed');
    const t0 = Date.now();
    const after = await h.api('GET', `/api/v1/environments/${next}?wait=600`);
    timings.queuedToReadyMs = Date.now() - t0;
    assert.equal(after.body.status, 'ready', JSON.stringify(after.body.failure));
    assert.equal(after.body.node, freed, 'placed on the node that freed');
    assert.equal((await placement(lab, after.body.id)).find((p) => p.service === 'db')!.node, freed);
    const events = (await h.api('GET', `/api/v1/environments/${next}/events`)).body.events as { type: string; message: string }[];
    assert.ok(events.some((e) => e.type === 'provisioning' && e.message.endsWith(`placed on node ${freed}`)), events.map((e) => e.message).join('\n'));
    for (const n of [...names.filter((x) => x !== byNode.get(freed)), next]) {
      assert.equal((await h.api('DELETE', `/api/v1/environments/${n}?wait=120`)).body.status, 'destroyed');
    }
    assert.deepEqual(await labelledEverywhere(lab, `mayfly.instance=${h.config.instance}`).then((o) => ({ services: o.services, networks: o.networks })), { services: 0, networks: 0 });
  });
});
