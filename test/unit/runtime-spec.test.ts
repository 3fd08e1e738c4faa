import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceSpec } from '../../core/stack/model.js';
import { containerName, networkName, volumeName } from '../../core/domain/names.js';
import { containerSpec } from '../../worker/runtime/docker/container-spec.js';
import { demux } from '../../worker/runtime/docker/streams.js';

const env = { id: 'e1e1e1e1-0000-0000-0000-000000000000', project: 'shop-pr-1-e1e1e1e1', generation: 3 };
const svc: ServiceSpec = {
  name: 'web', image: 'r/shop:pr-1', environment: { A: '1' }, ports: [{ container: 3000, protocol: 'tcp' }],
  volumes: [{ source: 'data', target: '/data', readOnly: false }], tmpfs: [], dependsOn: [],
  limits: { memoryBytes: 128 * 1024 * 1024, nanoCpus: 5e8, pids: 64 }, labels: { team: 'qa' }, restart: 'no',
  healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, retries: 5 },
};

describe('the Engine API body of a service', () => {
  it('labels it for Mayfly and for compose, and names it as compose would', () => {
    const spec = containerSpec('default', env, svc);
    assert.equal(spec.Labels!['mayfly.env'], env.id);
    assert.equal(spec.Labels!['mayfly.instance'], 'default');
    assert.equal(spec.Labels!['com.docker.compose.project'], env.project);
    assert.equal(spec.Labels!['com.docker.compose.service'], 'web');
    assert.equal(spec.Labels!.team, 'qa');
    assert.equal(containerName(env.project, 'web'), 'shop-pr-1-e1e1e1e1-web-1');
    assert.equal(networkName(env.project), 'shop-pr-1-e1e1e1e1_default');
    assert.equal(volumeName(env.project, 'data'), 'shop-pr-1-e1e1e1e1_data');
  });
  it('publishes ports on 127.0.0.1 only, at a port the engine picks', () => {
    const spec = containerSpec('default', env, svc);
    assert.deepEqual(spec.HostConfig!.PortBindings, { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
  });
  it('sets memory (without swap), CPU and pids limits, and the healthcheck in nanoseconds', () => {
    const spec = containerSpec('default', env, svc);
    assert.equal(spec.HostConfig!.Memory, 128 * 1024 * 1024);
    assert.equal(spec.HostConfig!.MemorySwap, 128 * 1024 * 1024);
    assert.equal(spec.HostConfig!.NanoCpus, 5e8);
    assert.equal(spec.HostConfig!.PidsLimit, 64);
    assert.equal(spec.Healthcheck!.Interval, 1e9);
    const withStart = containerSpec('default', env, { ...svc, healthcheck: { ...svc.healthcheck!, startIntervalMs: 250, startPeriodMs: 60_000 } });
    assert.equal((withStart.Healthcheck as { StartInterval?: number }).StartInterval, 250e6, 'start_interval for Docker 25+');
    assert.equal(withStart.Healthcheck!.StartPeriod, 60e9);
    assert.deepEqual(spec.HostConfig!.Mounts, [{ Type: 'volume', Source: 'shop-pr-1-e1e1e1e1_data', Target: '/data', ReadOnly: false }]);
  });
  it('changes its config hash when the image changes, and not when only the generation does', () => {
    const a = containerSpec('default', env, svc).Labels!['mayfly.config-hash'];
    const b = containerSpec('default', { ...env, generation: 4 }, svc).Labels!['mayfly.config-hash'];
    const c = containerSpec('default', env, { ...svc, image: 'r/shop:pr-2' }).Labels!['mayfly.config-hash'];
    assert.equal(a, b);
    assert.notEqual(a, c);
  });
});

describe('demultiplexing Docker output', () => {
  const frame = (type: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = type;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  it('joins stdout and stderr frames in order', () => {
    assert.equal(demux(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, 'more')])), 'out\nerr\nmore');
  });
  it('passes plain (TTY) output through', () => {
    assert.equal(demux(Buffer.from('plain text output')), 'plain text output');
  });
});
