import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../core/platform/log.js';
import { OutageLog } from '../../core/queue/outage-log.js';

function capture() {
  const lines: { level: number; msg: string; errors?: number }[] = [];
  const dest = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  return { lines, logger: createLogger('info', 't', { destination: dest }) };
}

describe('engine errors logged once per outage', () => {
  it('when Redis fails 10,000 times in 6 s, then three lines are written: down, a reminder, back with the count', async (t) => {
    t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 0 });
    const { lines, logger } = capture();
    const log = new OutageLog(logger, 'Redis (the job queue)', 2000, 5000);
    for (let i = 0; i < 10_000; i++) {
      log.error(new Error('OOM command not allowed when used memory > maxmemory'));
      if (i % 1000 === 0) t.mock.timers.tick(600);
    }
    assert.equal(log.down, true);
    t.mock.timers.tick(2001);
    await new Promise((r) => setImmediate(r));
    assert.equal(log.down, false);
    assert.equal(lines.length, 3, lines.map((l) => l.msg).join('\n'));
    assert.match(lines[0]!.msg, /Redis \(the job queue\) is unavailable: OOM/);
    assert.match(lines[1]!.msg, /still unavailable after 5\.\d s/);
    assert.match(lines[2]!.msg, /available again: unavailable for 6\.0 s, 10000 errors in the meantime/);
    assert.equal(lines[2]!.errors, 10_000);
  });

  it('when a second outage follows, then it is reported on its own', (t) => {
    t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 0 });
    const { lines, logger } = capture();
    const log = new OutageLog(logger, 'PostgreSQL', 1000);
    log.error(new Error('a'));
    log.ok();
    log.error(new Error('b'));
    log.error(new Error('b'));
    log.ok();
    log.ok();
    assert.deepEqual(lines.map((l) => l.msg.split(':')[0]), ['PostgreSQL is unavailable', 'PostgreSQL available again', 'PostgreSQL is unavailable', 'PostgreSQL available again']);
    assert.equal(lines[3]!.errors, 2);
  });
});
