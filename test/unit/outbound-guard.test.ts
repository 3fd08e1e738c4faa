import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  EMPTY_ALLOW_LIST, allowsAddress, allowsHost, blockedReason, literalHostProblem, parseAddress, parseCallbackAllow, refusal,
} from '../../core/doors/outbound-guard.js';
import { OutboundRefused, guardedLookup, postJson } from '../../core/doors/http-out.js';
import { callbackUrlProblem } from '../../core/doors/requests.js';
import { loadConfig } from '../../core/config/config.js';

/** [address, a word the reason must hold] for every refused range: its first, an inner and its last address. */
const REFUSED_V4: [string, RegExp][] = [
  ['0.0.0.0', /unspecified/], ['0.1.2.3', /unspecified/], ['0.255.255.255', /unspecified/],
  ['10.0.0.0', /RFC 1918, 10\.0\.0\.0\/8/], ['10.1.2.3', /RFC 1918/], ['10.255.255.255', /RFC 1918/],
  ['100.64.0.0', /carrier-grade NAT/], ['100.100.1.1', /carrier-grade NAT/], ['100.127.255.255', /carrier-grade NAT/],
  ['127.0.0.1', /loopback/], ['127.0.0.0', /loopback/], ['127.255.255.255', /loopback/],
  ['169.254.169.254', /metadata/], ['169.254.0.0', /link-local/], ['169.254.255.255', /link-local/],
  ['172.16.0.0', /RFC 1918, 172\.16\.0\.0\/12/], ['172.20.1.1', /RFC 1918/], ['172.31.255.255', /RFC 1918/],
  ['192.0.0.0', /IETF/], ['192.0.0.192', /IETF/], ['192.0.0.255', /IETF/],
  ['192.168.0.0', /RFC 1918, 192\.168/], ['192.168.1.1', /RFC 1918/], ['192.168.255.255', /RFC 1918/],
  ['198.18.0.0', /benchmarking/], ['198.19.255.255', /benchmarking/],
  ['224.0.0.0', /multicast/], ['239.255.255.250', /multicast/],
  ['240.0.0.0', /reserved/], ['255.255.255.255', /reserved or broadcast/],
];
/** Just outside each range, and ordinary public addresses. */
const PUBLIC_V4 = [
  '1.1.1.1', '8.8.8.8', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0',
  '169.253.255.255', '169.255.0.0', '172.15.255.255', '172.32.0.0', '192.0.1.0', '192.167.255.255', '192.169.0.0',
  '198.17.255.255', '198.20.0.0', '223.255.255.255', '203.0.113.7',
];
const REFUSED_V6: [string, RegExp][] = [
  ['::', /unspecified/], ['0:0:0:0:0:0:0:0', /unspecified/],
  ['::1', /loopback/], ['0:0:0:0:0:0:0:1', /loopback/],
  ['fc00::', /unique local/], ['fd12:3456:789a::1', /unique local/], ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', /unique local/],
  ['fe80::', /link-local/], ['fe80::1%eth0', /link-local/], ['febf:ffff::1', /link-local/],
  ['fec0::1', /site-local/],
  ['ff00::', /multicast/], ['ff02::1', /multicast/], ['FF05::1:3', /multicast/],
  ['64:ff9b:1::1', /local-use NAT64/],
  // IPv6 forms carrying a refused IPv4 address.
  ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1, loopback/],
  ['::ffff:7f00:1', /IPv4-mapped form of 127\.0\.0\.1, loopback/],
  ['0:0:0:0:0:ffff:7f00:0001', /IPv4-mapped form of 127\.0\.0\.1/],
  ['::FFFF:10.0.0.1', /IPv4-mapped form of 10\.0\.0\.1, private/],
  ['::ffff:169.254.169.254', /IPv4-mapped form of 169\.254\.169\.254, the cloud metadata/],
  ['::ffff:a9fe:a9fe', /IPv4-mapped form of 169\.254\.169\.254/],
  ['::ffff:192.168.1.1', /IPv4-mapped form of 192\.168\.1\.1/],
  ['::ffff:100.64.0.1', /IPv4-mapped form of 100\.64\.0\.1, carrier-grade/],
  ['::ffff:0.0.0.0', /IPv4-mapped form of 0\.0\.0\.0, unspecified/],
  ['::ffff:224.0.0.1', /IPv4-mapped form of 224\.0\.0\.1, multicast/],
  ['::127.0.0.1', /IPv4-compatible form of 127\.0\.0\.1/],
  ['64:ff9b::a9fe:a9fe', /NAT64 form of 169\.254\.169\.254/],
  ['64:ff9b::10.1.1.1', /NAT64 form of 10\.1\.1\.1/],
  ['2002:0a00:0001::', /6to4 form of 10\.0\.0\.1/],
  ['2002:7f00:1::1', /6to4 form of 127\.0\.0\.1/],
];
const PUBLIC_V6 = ['2001:4860:4860::8888', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', 'fbff::1', 'fe7f::1', 'fe00::1'];

describe('the outbound address classifier', () => {
  it('when an IPv4 address is loopback, private, CGNAT, link-local, metadata, unspecified, multicast or reserved, then it is refused with the range named', () => {
    for (const [address, reason] of REFUSED_V4) assert.match(blockedReason(address) ?? '(allowed)', reason, address);
  });

  it('when an IPv4 address is public (just outside each range too), then it is not refused', () => {
    for (const address of PUBLIC_V4) assert.equal(blockedReason(address), undefined, address);
  });

  it('when an IPv6 address is unspecified, loopback, ULA, link-local, site-local or multicast, or carries a refused IPv4 address (mapped, compatible, NAT64, 6to4), then it is refused', () => {
    for (const [address, reason] of REFUSED_V6) assert.match(blockedReason(address) ?? '(allowed)', reason, address);
    assert.match(blockedReason('[::1]')!, /loopback/, 'brackets as in a URL');
  });

  it('when an IPv6 address is public, or carries a public IPv4 address, then it is not refused', () => {
    for (const address of PUBLIC_V6) assert.equal(blockedReason(address), undefined, address);
  });

  it('when the text is not an address, then it is refused rather than guessed', () => {
    for (const text of ['example.com', '', '1.2.3', '1.2.3.256', '::ffff:1.2.3.999', '1::2::3', '12345::']) {
      assert.equal(blockedReason(text), 'not an IP address', text);
      assert.equal(parseAddress(text), undefined, text);
    }
  });
});

describe('MAYFLY_CALLBACK_ALLOW', () => {
  it('when it lists networks, addresses, host names and *.suffixes, then they are parsed; a bad entry names itself', () => {
    const allow = parseCallbackAllow('10.0.0.0/8, 127.0.0.1,fd00::/8, hooks.internal.example, *.corp.example, Hooks2.Example.');
    assert.equal(allow.nets.length, 3);
    assert.deepEqual(allow.names, ['hooks.internal.example', 'hooks2.example']);
    assert.deepEqual(allow.suffixes, ['.corp.example']);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/1', 'http://x', 'a b', '*.', '10.0.0.0/x']) {
      assert.throws(() => parseCallbackAllow(bad), (err: Error) => err.message.includes(bad.slice(0, 10)), bad);
    }
    assert.throws(() => loadConfig({ MAYFLY_CALLBACK_ALLOW: 'not a host!' }), /MAYFLY_CALLBACK_ALLOW has an entry/);
    assert.equal(loadConfig({}).doors.callbackAllow.nets.length, 0, 'empty by default: public addresses only');
  });

  it('when an address is inside an allowed network (an IPv4-mapped form counts as its IPv4), then it is allowed; names match exactly or by suffix', () => {
    const allow = parseCallbackAllow('10.0.0.0/8,127.0.0.1,fd00::/8,hooks.internal.example,*.corp.example');
    for (const a of ['10.1.2.3', '127.0.0.1', '::ffff:10.9.9.9', '::ffff:7f00:1', 'fd00::5', '[fd00::5]']) assert.ok(allowsAddress(allow, a), a);
    for (const a of ['127.0.0.2', '11.0.0.1', 'fe80::1', '::1', 'fc00::1']) assert.ok(!allowsAddress(allow, a), a);
    assert.ok(allowsHost(allow, 'HOOKS.internal.example.'));
    assert.ok(allowsHost(allow, 'ci.corp.example'));
    assert.ok(!allowsHost(allow, 'corp.example'), 'a *. entry is for names under it');
    assert.ok(!allowsHost(allow, 'evilcorp.example'));
    assert.ok(!allowsHost(allow, 'hooks.internal.example.evil.test'));
  });

  it('when a refused address is called, then the message names the host, the address, why, and the setting with the entry to add', () => {
    const msg = refusal(EMPTY_ALLOW_LIST, 'hooks.example', '169.254.169.254')!;
    assert.match(msg, /hooks\.example \(169\.254\.169\.254\)/);
    assert.match(msg, /cloud metadata/);
    assert.match(msg, /MAYFLY_CALLBACK_ALLOW allows it \(add 169\.254\.169\.254 or hooks\.example\)/);
    assert.match(refusal(EMPTY_ALLOW_LIST, '::1', '::1')!, /refused to call ::1: .*loopback.*\(add ::1\)/);
    assert.equal(refusal(parseCallbackAllow('hooks.example'), 'hooks.example', '10.0.0.1'), undefined, 'allowed by name');
    assert.equal(refusal(EMPTY_ALLOW_LIST, 'example.com', '93.184.216.34'), undefined, 'public');
  });

  it('when a callbackUrl names a refused address literal or a localhost name, then the request is refused naming the setting; names are left to the call', () => {
    const none = EMPTY_ALLOW_LIST;
    for (const url of ['http://127.0.0.1:9/cb', 'http://[::1]/cb', 'http://169.254.169.254/latest/meta-data/', 'https://10.0.0.5/x', 'http://[::ffff:127.0.0.1]/', 'http://localhost:8080/', 'http://api.localhost/', 'http://0.0.0.0/']) {
      assert.match(callbackUrlProblem(url, none) ?? '(accepted)', /MAYFLY_CALLBACK_ALLOW/, url);
    }
    assert.equal(callbackUrlProblem('https://ci.example/hook', none), undefined);
    assert.equal(callbackUrlProblem('http://127.0.0.1:9/cb', parseCallbackAllow('127.0.0.1')), undefined);
    assert.equal(callbackUrlProblem('http://localhost:9/cb', parseCallbackAllow('localhost')), undefined);
    assert.equal(callbackUrlProblem('http://127.0.0.1:9/cb'), undefined, 'without an allow-list given, only the form is checked');
    assert.equal(literalHostProblem(none, 'hooks.example'), undefined, 'a name is resolved and checked at each call');
  });
});

describe('guarded outbound calls', () => {
  it('when a name resolves to a refused address, then the lookup refuses it; allowed, it hands over only what it checked', async () => {
    const lookup = (allow: ReturnType<typeof parseCallbackAllow>, all: boolean) => new Promise<unknown>((resolve, reject) => {
      guardedLookup(allow)('localhost', { all }, ((err: Error | null, address: unknown) => (err ? reject(err) : resolve(address))) as never);
    });
    await assert.rejects(lookup(EMPTY_ALLOW_LIST, true), (err: Error) => err instanceof OutboundRefused && /refused to call localhost \((127\.0\.0\.1|::1)\)/.test(err.message));
    const all = await lookup(parseCallbackAllow('localhost'), true) as { address: string }[];
    assert.ok(all.length >= 1 && all.every((a) => blockedReason(a.address)), JSON.stringify(all));
    const one = await lookup(parseCallbackAllow('localhost'), false);
    assert.ok(all.some((a) => a.address === one), 'the single answer is one of the checked addresses');
  });

  it('when a callback goes to 127.0.0.1 without the allow-list, then nothing is sent and OutboundRefused says why; with it, it is delivered', async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => { received.push(`${req.headers.host} ${body}`); res.writeHead(204).end(); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const url of [`http://127.0.0.1:${port}/cb`, `http://localhost:${port}/cb`, `http://[::ffff:127.0.0.1]:${port}/cb`]) {
        await assert.rejects(postJson(url, '{"a":1}', {}, 5000, { guard: EMPTY_ALLOW_LIST }),
          (err: Error) => err instanceof OutboundRefused && /MAYFLY_CALLBACK_ALLOW/.test(err.message) && !err.retryable, url);
      }
      assert.deepEqual(received, [], 'no request reached the server');
      const res = await postJson(`http://127.0.0.1:${port}/cb`, '{"a":1}', {}, 5000, { guard: parseCallbackAllow('127.0.0.1') });
      assert.equal(res.status, 204);
      assert.deepEqual(received, [`127.0.0.1:${port} {"a":1}`]);
      // By name: the Host header keeps the name while the socket goes to the checked address.
      await postJson(`http://localhost:${port}/cb`, '{"b":2}', {}, 5000, { guard: parseCallbackAllow('localhost') });
      assert.equal(received[1], `localhost:${port} {"b":2}`);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
