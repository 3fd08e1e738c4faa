import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StackError } from '../../core/domain/errors.js';
import { parseComposeDuration, parseStack } from '../../core/stack/parse.js';

const limits = { memoryBytes: 512 * 1024 * 1024, nanoCpus: 1e9, pids: 256 };
const base = (service: string, extra = '') => `services:\n  web:\n    image: "r.io/app:1"\n${service}\n${extra}`;

function refused(yaml: string, code: string, field: string): void {
  assert.throws(() => parseStack(yaml, limits), (err: unknown) => {
    assert.ok(err instanceof StackError, String(err));
    assert.equal(err.code, code);
    assert.ok(err.message.startsWith(field), `"${err.message}" names ${field}`);
    return true;
  });
}

describe('rendered stacks', () => {
  it('orders services after their dependencies', () => {
    const stack = parseStack(`
services:
  web: { image: "a:1", depends_on: { api: { condition: service_healthy } } }
  api: { image: "b:1", depends_on: [db], healthcheck: { test: "true" } }
  db: { image: "c:1" }
`, limits);
    assert.deepEqual(stack.services.map((s) => s.name), ['db', 'api', 'web']);
    assert.deepEqual(stack.services[2]!.dependsOn, [{ service: 'api', condition: 'service_healthy' }]);
    assert.deepEqual(stack.services[1]!.healthcheck?.test, ['CMD-SHELL', 'true']);
  });

  it('reads limits, ports, volumes, environment and healthchecks', () => {
    const stack = parseStack(`
services:
  db:
    image: "r/pg:15"
    environment: ["A=1", "B=two=2"]
    ports: ["5432", "53/udp"]
    volumes: ["data:/var/lib/data:ro"]
    mem_limit: 256m
    cpus: 0.5
    pids_limit: 100
    healthcheck: { test: ["CMD", "pg_isready"], interval: 1s, timeout: 1m30s, retries: 3, start_period: 500ms, start_interval: 200ms }
volumes:
  data: {}
`, limits);
    const db = stack.services[0]!;
    assert.deepEqual(db.environment, { A: '1', B: 'two=2' });
    assert.deepEqual(db.ports, [{ container: 5432, protocol: 'tcp' }, { container: 53, protocol: 'udp' }]);
    assert.deepEqual(db.volumes, [{ source: 'data', target: '/var/lib/data', readOnly: true }]);
    assert.deepEqual(db.limits, { memoryBytes: 256 * 1024 * 1024, nanoCpus: 5e8, pids: 100 });
    assert.deepEqual(db.healthcheck, { test: ['CMD', 'pg_isready'], intervalMs: 1000, timeoutMs: 90000, retries: 3, startPeriodMs: 500, startIntervalMs: 200 });
    assert.deepEqual(stack.volumes, ['data']);
  });

  it('reads shm_size', () => {
    assert.equal(parseStack(base('    shm_size: 256m'), limits).services[0]!.shmBytes, 256 * 1024 * 1024);
    refused(base('    shm_size: big'), 'INVALID_STACK', 'services.web.shm_size');
  });

  it('fills in default limits where a service declares none', () => {
    assert.deepEqual(parseStack(base(''), limits).services[0]!.limits, limits);
  });

  it('names every compose key it does not support instead of dropping it', () => {
    refused(base('    security_opt: ["seccomp:unconfined"]'), 'UNSUPPORTED_COMPOSE_KEY', 'services.web.security_opt');
    refused(base('    userns_mode: host'), 'UNSUPPORTED_COMPOSE_KEY', 'services.web.userns_mode');
    refused(base('    deploy: { replicas: 2 }'), 'UNSUPPORTED_COMPOSE_KEY', 'services.web.deploy');
    refused(base('', 'networks:\n  front: {}'), 'UNSUPPORTED_COMPOSE_KEY', 'networks');
    refused(base('    healthcheck: { test: "true", bogus: 1 }'), 'UNSUPPORTED_COMPOSE_KEY', 'services.web.healthcheck.bogus');
    refused(base('', 'volumes:\n  data: { driver: nfs }'), 'UNSUPPORTED_COMPOSE_KEY', 'volumes.data.driver');
  });

  it('allows x- extension keys, as compose does', () => {
    assert.equal(parseStack(base('    x-note: hi', 'x-shared: {a: 1}'), limits).services.length, 1);
  });

  it('refuses host paths, host ports, undeclared volumes, cycles and unknown dependencies', () => {
    refused(base('    volumes: ["/etc:relative"]'), 'INVALID_STACK', 'services.web.volumes[0]');
    refused(base('    volumes: ["data:/data"]'), 'INVALID_STACK', 'services.web.volumes[0]');
    refused(base('    ports: ["8080:80"]'), 'INVALID_STACK', 'services.web.ports[0]');
    refused(base('    depends_on: [nope]'), 'INVALID_STACK', 'services.web.depends_on');
    refused(`services:\n  a: { image: "a:1", depends_on: [b] }\n  b: { image: "b:1", depends_on: [a] }`, 'INVALID_STACK', 'services.a.depends_on');
    refused(base('    depends_on: { db: { condition: service_ready } }', ''), 'INVALID_STACK', 'services.web.depends_on.db.condition');
  });

  it('refuses invalid images, limits and reserved labels', () => {
    refused('services:\n  web:\n    image: "NOT VALID"', 'INVALID_STACK', 'services.web.image');
    refused(base('    mem_limit: lots'), 'INVALID_STACK', 'services.web.mem_limit');
    refused(base('    cpus: 0'), 'INVALID_STACK', 'services.web.cpus');
    refused(base('    labels: { mayfly.env: other }'), 'INVALID_STACK', 'services.web.labels.mayfly.env');
    refused(base('    environment: [FROM_HOST]'), 'INVALID_STACK', 'services.web.environment.FROM_HOST');
  });

  it('refuses YAML that is not a stack', () => {
    refused('just text', 'INVALID_STACK', '(root)');
    refused('services: {}', 'INVALID_STACK', 'services');
    assert.throws(() => parseStack('services:\n  web: {image: "a:1"}\n  web: {image: "b:1"}', limits), StackError, 'duplicate keys');
  });

  it('reads compose durations', () => {
    assert.equal(parseComposeDuration('1m30s', 'k'), 90000);
    assert.equal(parseComposeDuration('250ms', 'k'), 250);
    assert.throws(() => parseComposeDuration('soon', 'k'), StackError);
  });
});
