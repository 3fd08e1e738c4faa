import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import { startHarness, labeledObjects, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { SLACK_SECRET, slackCommand } from '../helpers/doors.js';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

describe('Redis down (a private redis-server, stopped and started again)', { timeout: 600_000 }, () => {
  let redis: PrivateRedis;
  let h: Harness;
  let slack: StandIn;
  before(async () => {
    redis = await startPrivateRedis();
    slack = await startStandIn();
    h = await startHarness({ env: { REDIS_URL: redis.url, MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1s' } });
  });
  after(async () => {
    // close() needs Redis to clean its queues: start it again if the test stopped while it was down
    // (restarting a running one would pull Redis from under the worker's jobs while it closes).
    if (!(await answers(redis.url))) await redis.restart().catch(() => undefined);
    await h?.close();
    await redis.stop();
    await slack?.close();
  });

  it('when Redis is down, then creates, a destroy and a Slack command are accepted (202, recorded) within the bound, and after Redis returns the environment becomes ready, the destroy runs and Slack gets its follow-up', async () => {
    const before = uniqueName('tiny-before');
    const first = await h.api('PUT', `/api/v1/environments/${before}?wait=90`, { template: 'tiny' });
    assert.equal(first.body.status, 'ready', JSON.stringify(first.body));

    await redis.kill();
    const name = uniqueName('tiny-down');
    const timings: number[] = [];
    const timed = async (method: string, path: string, body?: unknown) => {
      const t0 = Date.now();
      const r = await h.api(method, path, body);
      timings.push(Date.now() - t0);
      return r;
    };
    // The row is the request: accepted, and said to wait for the queue.
    const created = await timed('PUT', `/api/v1/environments/${name}`, { template: 'tiny' });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.status, 'queued');
    assert.equal(created.body.delivery, 'deferred');
    const again = await timed('PUT', `/api/v1/environments/${uniqueName('tiny-down2')}`, { template: 'tiny' });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    const destroy = await timed('DELETE', `/api/v1/environments/${before}`);
    assert.equal(destroy.status, 202, JSON.stringify(destroy.body));
    assert.equal(destroy.body.status, 'destroying');
    // Slack in the same window: a normal answer, and later the follow-up.
    const ack = await slackCommand(h.baseUrl, { text: 'up tiny', response_url: `${slack.url}/commands/down/1` });
    assert.equal(ack.status, 200);
    assert.match(ack.body.text, /Creating \*tiny-road-runner\*/, ack.body.text);
    // Bounded: the producer gives up after 2 s; time for a loaded machine, but never a hang.
    for (const ms of timings) assert.ok(ms < 8000, `answered in ${ms} ms`);
    assert.ok(ack.ms < 3000, `Slack acknowledged in ${ack.ms} ms`);
    console.log(`answers while Redis was down: ${timings.join(', ')} ms; Slack ${ack.ms} ms`);

    const recorded = await h.api('GET', `/api/v1/environments/${name}`);
    assert.equal(recorded.body.status, 'queued', 'the request is recorded in PostgreSQL');
    assert.ok((await h.store.events(recorded.body.id)).some((e) => e.type === 'queue-unavailable'));

    await redis.restart();
    const ready = await waitUntil('the recorded environment to become ready after Redis returned', 120_000, async () => {
      const r = await h.api('GET', `/api/v1/environments/${name}`);
      if (r.body.status === 'failed') throw new Error(JSON.stringify(r.body.failure));
      return r.body.status === 'ready' ? r.body : undefined;
    });
    assert.equal(ready.status, 'ready');
    await waitUntil('the Slack follow-up saying it is ready', 120_000, async () =>
      slack.received.find((r) => r.path === '/commands/down/1' && /is ready/.test(r.json?.text ?? '')));
    // The destroy recorded while Redis was down is carried out too.
    await waitUntil('the destroy recorded while Redis was down to finish', 120_000, async () => (await h.store.getById(first.body.id))?.status === 'destroyed');
    assert.deepEqual(await labeledObjects(h.docker, first.body.id), { containers: 0, networks: 0, volumes: 0 });
    for (const r of await h.store.list({ statuses: ['queued', 'provisioning', 'ready'] })) await h.api('DELETE', `/api/v1/environments/${r.name}?wait=60`);
  });
});
