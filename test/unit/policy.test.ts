import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, projectRoot } from '../../core/config/config.js';
import { PolicyError } from '../../core/domain/errors.js';
import { parseStack } from '../../core/stack/parse.js';
import { defaultPolicy, enforcePolicy, registryOf, type StackPolicy } from '../../core/stack/policy.js';
import { TemplateCatalog } from '../../core/catalog/templates.js';
import { containerSpec } from '../../worker/runtime/docker/container-spec.js';

const limits = { memoryBytes: 512 * 1024 * 1024, nanoCpus: 1e9, pids: 256 };
const policy: StackPolicy = { ...defaultPolicy('reg.test:5000'), allowedBindMounts: [] };
const stack = (service: string) => parseStack(`services:\n  web:\n    image: "reg.test:5000/app:1"\n${service}\nvolumes:\n  data: {}\n`, limits);

function violations(service: string, p: StackPolicy = policy): { field: string; service: string; key: string; message: string }[] {
  try {
    enforcePolicy(stack(service), p, 'demo');
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    assert.equal(err.code, 'POLICY_VIOLATION');
    assert.match(err.message, /^template "demo", service "web", key "/);
    return err.details as never;
  }
  return [];
}

describe('stack policy', () => {
  it('when a service asks for privileges, capabilities, host namespaces or devices, then each is refused naming service and key', () => {
    const cases: [string, string][] = [
      ['    privileged: true', 'privileged'],
      ['    cap_add: [SYS_ADMIN]', 'cap_add'],
      ['    network_mode: host', 'network_mode'],
      ['    pid: host', 'pid'],
      ['    ipc: host', 'ipc'],
      ['    ipc: "container:other"', 'ipc'],
      ['    devices: ["/dev/kmsg:/dev/kmsg"]', 'devices'],
    ];
    for (const [yaml, key] of cases) {
      const found = violations(yaml);
      assert.equal(found.length, 1, yaml);
      assert.deepEqual({ service: found[0]!.service, key: found[0]!.key, field: found[0]!.field }, { service: 'web', key, field: `services.web.${key}` });
    }
    assert.match(violations('    network_mode: host')[0]!.message, /host's network namespace/);
    assert.equal(violations('    privileged: true\n    cap_add: [NET_ADMIN]\n    pid: host').length, 3, 'every violation is listed');
  });

  it('when a service asks for nothing of the host, then the stack passes', () => {
    assert.deepEqual(violations('    privileged: false\n    cap_add: []\n    volumes: ["data:/data"]'), []);
  });

  describe('bind mounts', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'mayfly-policy-'));
      mkdirSync(path.join(dir, 'allowed'));
      symlinkSync('/var/run/docker.sock', path.join(dir, 'allowed', 'sock-link'));
      symlinkSync('/etc', path.join(dir, 'allowed', 'etc-link'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const allowing = (...paths: string[]): StackPolicy => ({ ...policy, allowedBindMounts: paths });

    it('when a host path is not on the allow-list (or relative), then it is refused', () => {
      assert.equal(violations('    volumes: ["/etc:/host-etc:ro"]')[0]!.key, 'volumes[0]');
      assert.match(violations('    volumes: ["/etc:/host-etc:ro"]')[0]!.message, /not on the allow-list/);
      assert.match(violations('    volumes: ["./src:/src"]', allowing(dir))[0]!.message, /relative host path/);
      assert.match(violations(`    volumes: ["${dir}/allowed/../../etc:/x"]`, allowing(`${dir}/allowed`))[0]!.message, /not on the allow-list/);
    });

    it('when a host path is inside the allow-list, then it passes and the runtime mounts it as a bind', () => {
      const s = stack(`    volumes: ["${dir}/allowed:/fixtures:ro", "data:/data"]`);
      enforcePolicy(s, allowing(`${dir}/allowed`), 'demo');
      const spec = containerSpec('default', { id: 'e', project: 'p', generation: 1 }, s.services[0]!);
      assert.deepEqual(spec.HostConfig!.Mounts!.map((m) => [m.Type, m.Source, m.Target, m.ReadOnly]),
        [['volume', 'p_data', '/data', false], ['bind', `${dir}/allowed`, '/fixtures', true]]);
    });

    it('when a path resolves to the Docker socket or holds it, then it is refused even if allow-listed', () => {
      for (const source of ['/var/run/docker.sock', '/run/docker.sock', '/var/run', '/', `${dir}/allowed/sock-link`, '/srv/x/docker.sock']) {
        const found = violations(`    volumes: ["${source}:/mnt"]`, allowing('/', `${dir}/allowed`, '/var/run', '/srv'));
        assert.equal(found.length, 1, source);
        assert.match(found[0]!.message, /Docker Engine's socket/, source);
      }
    });

    it('when an allowed folder holds a symlink pointing outside it, then the link is refused', () => {
      assert.match(violations(`    volumes: ["${dir}/allowed/etc-link:/x"]`, allowing(`${dir}/allowed`))[0]!.message, /not on the allow-list/);
    });
  });

  it('when an image comes from a registry that is not allowed, then it is refused; names without a host are Docker Hub', () => {
    assert.equal(registryOf('postgres:15'), 'docker.io');
    assert.equal(registryOf('127.0.0.1:5000/mayfly/shop:main'), '127.0.0.1:5000');
    const s = parseStack('services:\n  web:\n    image: "evil.example/x:1"\n  db:\n    image: "postgres:15"\n', limits);
    assert.throws(() => enforcePolicy(s, policy, 'demo'), (err: PolicyError) => {
      assert.deepEqual((err.details as { field: string }[]).map((d) => d.field).sort(), ['services.db.image', 'services.web.image']);
      return true;
    });
    enforcePolicy(s, { ...policy, allowedRegistries: ['evil.example', 'docker.io'] }, 'demo');
  });

  it('when limits are missing, then the defaults are injected; over the maximum, then refused', () => {
    assert.deepEqual(stack('').services[0]!.limits, limits);
    const over = violations('    mem_limit: 8g\n    cpus: 16\n    pids_limit: 100000');
    assert.deepEqual(over.map((v) => v.key), ['mem_limit', 'cpus', 'pids_limit']);
    assert.match(over[0]!.message, /MAYFLY_MAX_MEMORY/);
  });

  it('when a template breaks the policy, then loading the catalog (at start) fails naming template, service and key', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mayfly-tpl-'));
    try {
      cpSync(path.join(projectRoot(), 'templates', 'shop'), path.join(dir, 'shop'), { recursive: true });
      const file = path.join(dir, 'shop', 'compose.yml.hbs');
      writeFileSync(file, readFileSync(file, 'utf8').replace('    mem_limit: 128m\n', '    mem_limit: 128m\n    privileged: true\n'));
      await assert.rejects(TemplateCatalog.load(dir, 'reg.test:5000', limits), (err: PolicyError) => {
        assert.equal(err.code, 'POLICY_VIOLATION');
        assert.match(err.message, /^template "shop", service "web", key "privileged"/);
        return true;
      });
      await TemplateCatalog.load(path.join(projectRoot(), 'templates'), 'reg.test:5000', limits);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the runtime drops NET_RAW and MKNOD, forbids new privileges, and never maps host access', () => {
    const s = stack('    privileged: true\n    cap_add: [SYS_ADMIN]\n    network_mode: host\n    pid: host');
    const spec = containerSpec('default', { id: 'e', project: 'p', generation: 1 }, s.services[0]!);
    assert.deepEqual(spec.HostConfig!.SecurityOpt, ['no-new-privileges:true']);
    assert.deepEqual(spec.HostConfig!.CapDrop, ['NET_RAW', 'MKNOD']);
    assert.equal(spec.HostConfig!.Privileged, false);
    assert.equal(spec.HostConfig!.CapAdd, undefined);
    assert.equal(spec.HostConfig!.NetworkMode, 'p_default');
    assert.equal(spec.HostConfig!.PidMode, undefined);
  });

  it('configuration: allowed registries default to MAYFLY_REGISTRY; the socket cannot be allow-listed; defaults must fit the maxima', () => {
    assert.deepEqual(loadConfig({ MAYFLY_REGISTRY: 'r.test:5000' }).policy.allowedRegistries, ['r.test:5000']);
    assert.deepEqual(loadConfig({ MAYFLY_ALLOWED_REGISTRIES: 'a.test, b.test:5000' }).policy.allowedRegistries, ['a.test', 'b.test:5000']);
    assert.throws(() => loadConfig({ MAYFLY_ALLOWED_BIND_MOUNTS: '/var/run/docker.sock' }), (e: Error) => e instanceof ConfigError && /MAYFLY_ALLOWED_BIND_MOUNTS/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_ALLOWED_BIND_MOUNTS: 'relative/dir' }), ConfigError);
    assert.throws(() => loadConfig({ MAYFLY_DEFAULT_MEMORY: '2g', MAYFLY_MAX_MEMORY: '1g' }), (e: Error) => /MAYFLY_DEFAULT_MEMORY/.test(e.message));
    assert.throws(() => loadConfig({ MAYFLY_MAX_CPUS: 'many' }), (e: Error) => /MAYFLY_MAX_CPUS/.test(e.message));
  });
});
