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

server.listen(port, () => console.log(`demo shop ${tag} listening on :${port}`));
const stop = () => server.close(() => pool.end().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
