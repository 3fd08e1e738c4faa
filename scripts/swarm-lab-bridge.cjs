// A byte pipe for the swarm lab (scripts/swarm-lab.sh): lets the lab's nodes pull the project's
// images from the registry the host already runs on 127.0.0.1:5000, without that registry or its
// storage being touched and without the nodes reaching the root namespace.
//
//   node swarm-lab-bridge.cjs unix-to-tcp <socket> <host:port>   (root namespace: socket -> 127.0.0.1:5000)
//   node swarm-lab-bridge.cjs tcp-to-unix <host:port> <socket>   (hub namespace: 10.241.0.1:5000 -> socket)
//
// A unix socket is a file, not a network address, so it crosses network namespaces: the process in
// the hub listens on the hub's address, and each connection is carried to the root namespace's
// loopback through the socket. Plain TCP both ways: the registry speaks HTTP, the nodes trust it
// as an insecure registry (dockerd --insecure-registry).
'use strict';
const net = require('node:net');
const fs = require('node:fs');

const [mode, from, to] = process.argv.slice(2);
const hostPort = (s) => { const i = s.lastIndexOf(':'); return { host: s.slice(0, i), port: Number(s.slice(i + 1)) }; };

function pipe(client, connectOpts) {
  const upstream = net.connect(connectOpts);
  client.pipe(upstream).pipe(client);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('error', end);
  upstream.on('error', end);
}

let server;
if (mode === 'unix-to-tcp') {
  try { fs.unlinkSync(from); } catch { /* not there */ }
  server = net.createServer((c) => pipe(c, hostPort(to))).listen(from);
} else if (mode === 'tcp-to-unix') {
  server = net.createServer((c) => pipe(c, { path: to })).listen(hostPort(from));
} else {
  console.error('usage: swarm-lab-bridge.cjs unix-to-tcp <socket> <host:port> | tcp-to-unix <host:port> <socket>');
  process.exit(2);
}
server.on('error', (err) => { console.error(`swarm-lab-bridge ${mode} ${from}: ${err.message}`); process.exit(1); });
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
