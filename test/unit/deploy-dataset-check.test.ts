/**
 * A deploy naming a seed whose dataset.yml is wrong (a mask rule with no known generator, a
 * malformed column reference, YAML that does not parse) is refused when it is asked for: 400
 * naming the field `seed` with the dataset's own message, before anything is stored or queued.
 * (Whether a rule's column exists is known only once the data is loaded: the golden build
 * refuses that, MASK_RULE_INVALID, test/unit/mask.test.ts and test/integration/seeds-masked.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EnvironmentService } from '../../core/app/environments.js';
import { DatasetCatalog } from '../../core/catalog/datasets.js';
import { projectRoot } from '../../core/config/config.js';
import { InputError } from '../../core/domain/errors.js';
import { systemActor } from '../../core/domain/principal.js';
import type { NewEnvironment } from '../../core/store/environments.js';

/** A port the check must not reach: any use of it fails (past the check, a request writes). */
const PAST = /was used: the request got past the dataset check/;
function untouchable(what: string, allowed: Record<string, unknown> = {}): any {
  return new Proxy({}, { get: (_t, prop) => {
    if (prop === 'then') return undefined;
    if (typeof prop === 'string' && prop in allowed) return allowed[prop];
    throw new Error(`${what}.${String(prop)} was used: the request got past the dataset check`);
  } });
}

const BAD_GENERATOR = 'mask:\n  customers.email: scramble\n';
const BAD_REF = 'mask:\n  "Customers.Email": email\n';
const BAD_YAML = 'mask: [unclosed\n';

describe('a deploy naming a dataset whose mask rules are wrong', () => {
  let seedsDir: string;
  let service: EnvironmentService;
  /** What the store's one read (the live environment of that name) answers. */
  let live: Record<string, unknown> | undefined;
  const actor = systemActor('qa', 'default', 'api');
  const request = (seed: string | null, extra: Partial<NewEnvironment> = {}): NewEnvironment =>
    ({ name: 'shop-1', template: 'shop', owner: 'qa', images: { web: 'shop-web:pr-1' }, seed, ttlSeconds: 3600, ...extra });

  before(async () => {
    seedsDir = await mkdtemp(path.join(os.tmpdir(), 'mayfly-dataset-check-'));
    const customers = path.join(projectRoot(), 'seed-data', 'customers');
    for (const [name, yml] of [['bad-generator', BAD_GENERATOR], ['bad-ref', BAD_REF], ['bad-yaml', BAD_YAML]] as const) {
      await cp(customers, path.join(seedsDir, name), { recursive: true });
      await writeFile(path.join(seedsDir, name, 'dataset.yml'), yml);
    }
    service = new EnvironmentService({
      store: untouchable('store', { getLive: async () => live }), queues: untouchable('queues'), catalog: untouchable('catalog'), logger: untouchable('logger'),
      seedDatasets: new DatasetCatalog(seedsDir),
    });
  });
  after(async () => { await rm(seedsDir, { recursive: true, force: true }); });

  async function refusal(seed: string): Promise<InputError> {
    live = undefined;
    let caught: unknown;
    await service.deploy(actor, request(seed), { ttlGiven: true }).catch((err) => { caught = err; });
    assert.ok(caught instanceof InputError, `an InputError, got ${String(caught)}`);
    assert.equal(caught.status, 400);
    assert.equal(caught.problems.length, 1);
    assert.equal(caught.problems[0]!.field, 'seed');
    return caught;
  }

  it('when a rule names no known generator, then it is refused naming the field seed, the dataset and the rule', async () => {
    const err = await refusal('bad-generator');
    assert.match(err.problems[0]!.message, /dataset "bad-generator": mask\.customers\.email names no generator: use one of name, email, phone, address, text, digits, got "scramble"/);
    assert.match(err.problems[0]!.message, /fix seed-data\/bad-generator\/dataset\.yml/);
  });
  it('when a column reference is malformed, then it is refused saying how to write one', async () => {
    const err = await refusal('bad-ref');
    assert.match(err.problems[0]!.message, /mask\.Customers\.Email is not a column reference: write table\.column/);
  });
  it('when dataset.yml is not YAML, then it is refused rather than loaded unmasked', async () => {
    const err = await refusal('bad-yaml');
    assert.match(err.problems[0]!.message, /dataset "bad-yaml": dataset\.yml is not valid YAML/);
  });

  it('when the dataset is fine, saved (not in seed-data/) or none is named, then the request goes on to be recorded', async () => {
    live = undefined;
    await cp(path.join(projectRoot(), 'seed-data', 'customers'), path.join(seedsDir, 'customers'), { recursive: true });
    for (const seed of ['customers', 'bug-1234-saved', null]) {
      await assert.rejects(service.deploy(actor, request(seed), { ttlGiven: true }), PAST, String(seed));
    }
  });
  it('when a redeploy keeps the seed whose data the environment holds, or it is a fork, then the definition is not read', async () => {
    live = { name: 'shop-1', seed: 'bad-generator', seededAt: new Date() };
    await assert.rejects(service.deploy(actor, request('bad-generator'), { ttlGiven: true }), PAST, 'its data is loaded: a redeploy keeps it');
    live = { name: 'shop-1', seed: 'customers', seededAt: new Date() };
    let caught: unknown;
    await service.deploy(actor, request('bad-generator'), { ttlGiven: true }).catch((err) => { caught = err; });
    assert.ok(caught instanceof InputError, 'a change of seed loads the new one: refused');
    live = { name: 'shop-1', seed: 'bad-generator', seededAt: null };
    caught = undefined;
    await service.deploy(actor, request('bad-generator'), { ttlGiven: true }).catch((err) => { caught = err; });
    assert.ok(caught instanceof InputError, 'not loaded yet (it failed before its data was in): refused');
    live = undefined;
    await assert.rejects(service.deploy(actor, request('bad-generator', { name: 'shop-1--alice', parentId: '6a1f4c1e-0000-4000-8000-000000000001', forkDepth: 1 }), { ttlGiven: true, createOnly: true }), PAST,
      'a fork copies its parent\'s data');
  });
});
