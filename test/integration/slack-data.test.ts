/**
 * Slack's data verbs (issue 17, item 5) through the signed /slack/commands door, on a real
 * PostgreSQL and Redis: checkpoint, checkpoints, rewind and fork for the environment's team; the
 * same rules (EnvironmentService) refuse another team's Slack user, and nothing changes; a rewind
 * to an unknown checkpoint names the field. No worker runs: the environment is moved to ready and
 * a checkpoint marked ready as the worker would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, uniqueName, type Harness } from '../helpers/harness.js';
import { SLACK_SECRET, slackCommand } from '../helpers/doors.js';
import { CheckpointStore } from '../../core/store/checkpoints.js';
import { readyCheckpoint as readyCheckpointOf, readyEnvironment as readyEnvironmentOf } from '../helpers/data-fixtures.js';

const ALICE = 'alice-secret-0123456789'; // team qa, as slack:UQA1 is
const as = (secret: string) => ({ Authorization: `Bearer ${secret}` });

describe('the Slack data verbs: checkpoint, checkpoints, rewind, fork', () => {
  let h: Harness;
  let checkpoints: CheckpointStore;
  before(async () => {
    h = await startHarness({
      worker: false,
      env: { SLACK_SIGNING_SECRET: SLACK_SECRET, MAYFLY_API_TOKENS: `alice:${ALICE}`, MAYFLY_TEAMS: 'qa=alice,slack:UQA1;platform=slack:UPL1' },
    });
    checkpoints = new CheckpointStore(h.pool);
  });
  after(async () => { await h?.close(); });

  const say = async (user: string, text: string): Promise<string> => {
    const res = await slackCommand(h.baseUrl, { text, user_id: user, user_name: user.toLowerCase() });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.response_type, 'ephemeral');
    return String(res.body.text);
  };

  const readyEnvironment = (prefix: string) => readyEnvironmentOf(h, ALICE, prefix);
  const readyCheckpoint = (name: string) => readyCheckpointOf(h, checkpoints, name);

  async function state(name: string): Promise<string> {
    const env = (await h.store.getByName(name))!;
    return JSON.stringify({ status: env.status, generation: env.generation, cps: (await checkpoints.list(env.id)).map((c) => c.id), forks: (await h.store.liveForks(env.id)).map((f) => f.name) });
  }

  it('when its team asks, then checkpoint records one, checkpoints lists them, rewind and fork are queued', async () => {
    const name = await readyEnvironment('sl-team');
    const ready = await readyCheckpoint(name);
    const env = (await h.store.getByName(name))!;

    const took = await say('UQA1', `checkpoint ${name}`);
    const taken = (await checkpoints.list(env.id)).find((c) => c.id !== ready);
    assert.ok(taken, 'a checkpoint was recorded');
    assert.equal(taken.createdBy, 'slack:UQA1');
    assert.equal(took, `Taking checkpoint \`${taken.id}\` of *${name}* (its database pauses for a moment). Bring it back with \`/mayfly rewind ${name} ${taken.id}\`.`);

    const list = (await say('UQA1', `checkpoints ${name}`)).split('\n');
    assert.equal(list[0], `Checkpoints of *${name}*, newest first:`);
    assert.match(list[1]!, new RegExp(`^• \`${taken.id}\` — pending · manual by slack:UQA1 at `));
    assert.match(list[2]!, new RegExp(`^• \`${ready}\` — ready · manual by alice at .* · 48(\\.0)? MiB, paused 120 ms$`));
    assert.equal(list[3], `Bring a ready one back: \`/mayfly rewind ${name} <checkpoint>\``);

    const forked = await say('UQA1', `fork ${name} dora`);
    assert.match(forked, new RegExp(`^Forking \\*${name}\\* as \\*${name}--dora\\*`));
    const fork = (await h.store.getByName(`${name}--dora`))!;
    assert.equal(fork.door, 'slack');
    assert.equal(fork.parentId, env.id);

    const rewound = await say('UQA1', `rewind ${name} ${ready}`);
    assert.match(rewound, new RegExp(`^Rewinding \\*${name}\\* to \`${ready}\``));
    const moved = (await h.store.getByName(name))!;
    assert.equal(moved.status, 'queued');
    assert.equal(moved.generation, env.generation + 1);
  });

  it('when a Slack user of another team asks, then checkpoint, rewind and fork are refused naming the team and nothing changes; the list may be read', async () => {
    const name = await readyEnvironment('sl-other');
    const cp = await readyCheckpoint(name);
    const before = await state(name);
    for (const text of [`checkpoint ${name}`, `rewind ${name} ${cp}`, `fork ${name} pat`]) {
      assert.match(await say('UPL1', text), new RegExp(`environment "${name}" belongs to team "qa"`), text);
    }
    assert.equal(await state(name), before);
    assert.equal(await h.store.getByName(`${name}--pat`), undefined);
    assert.match(await say('UPL1', `checkpoints ${name}`), new RegExp(`• \`${cp}\` — ready`), 'anyone signed in may look');
  });

  it('when the checkpoint is unknown, the environment unknown or a word missing, then the answer says what is wrong and nothing changes', async () => {
    const name = await readyEnvironment('sl-bad');
    const before = await state(name);
    assert.equal(await say('UQA1', `rewind ${name} cp-00000000`),
      `Cannot rewind *${name}*:\n• checkpoint: environment "${name}" has no checkpoint "cp-00000000"; GET /api/v1/environments/${name}/checkpoints lists its checkpoints`);
    assert.equal(await state(name), before);
    for (const verb of ['checkpoint', 'checkpoints']) assert.equal(await say('UQA1', `${verb} no-such-env`), 'No live environment named *no-such-env*.');
    assert.match(await say('UQA1', `rewind ${name}`), /^`rewind <name> <checkpoint>` needs a name and a checkpoint id/);
    assert.match(await say('UQA1', 'checkpoints'), /^`checkpoints <name>` takes exactly one environment name/);
    assert.equal(await state(name), before);
  });
});
