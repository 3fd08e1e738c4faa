'use strict';
// Mayfly's demo shop: one page listing the products in its PostgreSQL database, a JSON API and
// a health endpoint. Configuration: DATABASE_URL, PORT (3000), APP_TAG (shown on every page).
const http = require('node:http');
const { Pool } = require('pg');

const tag = process.env.APP_TAG || 'dev';
const port = Number(process.env.PORT || 3000);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 2000 });
pool.on('error', (err) => console.error('database pool error:', err.message));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const colours = { main: '#2f6f3e', 'pr-1': '#1f4e8c', 'pr-2': '#8c1f5a' };
const colour = colours[tag] || '#555';

async function products() {
  const { rows } = await pool.query('SELECT id, name, price_cents FROM products ORDER BY id');
  return rows;
}

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop (${escape(tag)})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;margin:0}header{background:${colour};color:#fff;padding:1rem 2rem}
main{padding:1rem 2rem}table{border-collapse:collapse}td,th{padding:.3rem 1rem;border-bottom:1px solid #ddd;text-align:left}
.tag{font-family:monospace;background:#fff3;padding:.1rem .4rem;border-radius:4px}</style></head>
<body><header><h1>Demo shop <span class="tag" data-testid="tag">${escape(tag)}</span></h1></header><main>${body}</main></body></html>`);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname === '/healthz') {
      await pool.query('SELECT 1');
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ status: 'ok', tag }));
    }
    if (url.pathname === '/api/products') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ tag, products: await products() }));
    }
    if (url.pathname === '/') {
      let rows;
      try { rows = await products(); } catch (err) {
        if (err.code === '42P01') return page(res, 200, '<p>No products table yet: the seed data has not been loaded.</p>');
        throw err;
      }
      const list = rows.map((p) => `<tr><td>${escape(p.name)}</td><td>${(p.price_cents / 100).toFixed(2)}</td></tr>`).join('');
      return page(res, 200, `<h2>${rows.length} products</h2><table><thead><tr><th>Product</th><th>Price</th></tr></thead><tbody>${list}</tbody></table>`);
    }
    page(res, 404, '<p>Not found.</p>');
  } catch (err) {
    console.error(`${req.method} ${url.pathname} failed:`, err.message);
    if (url.pathname === '/healthz') { res.writeHead(503, { 'content-type': 'application/json' }); return res.end(JSON.stringify({ status: 'unhealthy', error: err.message })); }
    page(res, 500, `<p>Error: ${escape(err.message)}</p>`);
  }
});

// WebSocket echo at /ws/echo (for the router's tests): node's 'upgrade' event and a minimal
// RFC 6455 frame codec; every text or binary frame comes back as it was sent, pings get pongs.
const crypto = require('node:crypto');
function wsFrame(opcode, payload, fin = true) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, len])
    : len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, len >> 8, len & 255])
      : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  return Buffer.concat([head, payload]);
}
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  const key = req.headers['sec-websocket-key'];
  if (url.pathname !== '/ws/echo' || String(req.headers.upgrade).toLowerCase() !== 'websocket' || !key) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.setNoDelay(true);
  let buf = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
  const onData = (chunk) => {
    if (chunk) buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const maskLen = masked ? 4 : 0;
      if (buf.length < off + maskLen + len) return;
      const mask = masked ? buf.subarray(off, off + 4) : null;
      const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      buf = buf.subarray(off + maskLen + len);
      if (opcode === 0x8) { socket.end(wsFrame(0x8, payload.subarray(0, 2))); return; }
      if (opcode === 0x9) socket.write(wsFrame(0xa, payload));
      else if (opcode <= 0x2) socket.write(wsFrame(opcode, payload, fin));
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  onData();
});

server.listen(port, () => console.log(`demo shop ${tag} listening on :${port}`));
const stop = () => server.close(() => pool.end().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
