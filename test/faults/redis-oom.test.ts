/**
 * Redis refusing every write for several seconds (out of memory under noeviction, as a full
 * Redis does), while a worker process runs (issue 22, part 3): the worker's log stays a few lines,
 * a PUT in that window is accepted, and once Redis takes writes again the environment becomes
 * ready: the reconciler, a repeating duty, ran again by itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startHarness, uniqueName, waitUntil, type Harness } from '../helpers/harness.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-engines.js';
import { TINY_TEMPLATES_DIR } from '../helpers/tiny.js';
import { WorkerProcess } from '../helpers/worker-process.js';
import { startStandIn, type StandIn } from '../helpers/standin.js';
import { SLACK_SECRET, slackCommand } from '../helpers/doors.js';

const OUTAGE_MS = 6000;

describe('faults: Redis out of memory', { timeout: 600_000 }, () => {
  let redis: PrivateRedis;
  let admin: Redis;
  let h: Harness;
  let w: WorkerProcess;
  let slack: StandIn;
  before(async () => {
    redis = await startPrivateRedis();
    admin = new Redis(redis.url);
    slack = await startStandIn();
    h = await startHarness({ worker: false, env: { REDIS_URL: redis.url, MAYFLY_TEMPLATES_DIR: TINY_TEMPLATES_DIR, SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_NOTIFY_INTERVAL: '1s' } });
    w = await WorkerProcess.start(h);
  });
  after(async () => {
    await admin?.config('SET', 'maxmemory', '0').catch(() => undefined);
    await w?.stop();
    await h?.close();
    admin?.disconnect();
    await redis?.stop();
    await slack?.close();
  });

  it('when Redis refuses writes for 6 s, then the worker logs a few lines (not one per attempt), a PUT and a Slack command are accepted, and after it the environment becomes ready and Slack hears so', { timeout: 300_000 }, async () => {
    const linesBefore = w.lineCount();
    await admin.config('SET', 'maxmemory', '1'); // every write: OOM command not allowed
    const started = Date.now();
    const name = uniqueName('oom');
    const put = await h.api('PUT', `/api/v1/environments/${name}`, { template: 'tiny' });
    assert.equal(put.status, 202, JSON.stringify(put.body));
    assert.equal(put.body.delivery, 'deferred', 'Redis refused the job: the row stands and waits');
    // A Slack command in the same window: a normal answer now, the ready message later.
    const ack = await slackCommand(h.baseUrl, { text: 'up tiny', response_url: `${slack.url}/commands/oom/1` });
    assert.match(ack.body.text, /Creating \*tiny-road-runner\*/, ack.body.text);
    await sleep(OUTAGE_MS - (Date.now() - started));
    await admin.config('SET', 'maxmemory', '0');
    const outageLines = w.lineCount() - linesBefore;

    const ready = await waitUntil('the environment accepted during the outage to become ready', 180_000, async () => {
      const e = await h.store.getByName(name);
      if (e?.status === 'failed') assert.fail(JSON.stringify(e.failure));
      return e?.status === 'ready' ? e : undefined;
    }).catch(async (err) => {
      const e = await h.store.getByName(name);
      assert.fail(`${(err as Error).message}\nstatus ${e?.status}; timeline:\n${e ? (await h.store.events(e.id)).map((x) => `${x.type}: ${x.message}`).join('\n') : '-'}\nworker:\n${w.output()}`);
    });
    assert.ok(ready);
    await waitUntil('the Slack follow-up saying it is ready', 180_000, async () =>
      slack.received.find((r) => r.path === '/commands/oom/1' && /is ready/.test(r.json?.text ?? '')));
    // A few lines a second at most: "unavailable", a reminder, job retries; never thousands.
    console.log(`worker log lines during a ${OUTAGE_MS / 1000} s Redis OOM: ${outageLines}`);
    assert.ok(outageLines <= 3 * (OUTAGE_MS / 1000), `worker wrote ${outageLines} lines in ${OUTAGE_MS} ms:\n${w.output()}`);
    for (const n of [name, 'tiny-road-runner']) assert.equal((await h.api('DELETE', `/api/v1/environments/${n}?wait=120`)).body.status, 'destroyed');
  });
});
