import type { Environment } from '../../core/domain/environment.js';

/**
 * The router's own pages: what a browser gets at an environment's address when there is nothing
 * to proxy to (yet). Plain HTML, no scripts; the "starting" and "waking" pages refresh themselves.
 * Everything from a request or a record is escaped.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface Page {
  status: number;
  title: string;
  /** HTML, already escaped. */
  body: string;
  /** Seconds after which the page reloads itself (and Retry-After). */
  refreshSeconds?: number;
}

export function renderPage(page: Page): string {
  const refresh = page.refreshSeconds ? `<meta http-equiv="refresh" content="${page.refreshSeconds}">` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(page.title)} · Mayfly</title>
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<style>body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}main{max-width:40rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}code{background:#eef;padding:.1rem .3rem;border-radius:3px}.muted{color:#666;font-size:.9rem}</style></head>
<body><main>${page.body}<p class="muted">Mayfly router</p></main></body></html>`;
}

export interface PageContext {
  /** MAYFLY_PUBLIC_URL: where the Mayfly pages and API are. */
  publicUrl: string;
  domain: string;
  /** An example address, `http://<name>.<domain>:<port>`. */
  exampleAddress: string;
}

const listHelp = (ctx: PageContext) =>
  `<p>To see which environments exist: open <a href="${escapeHtml(ctx.publicUrl)}/">${escapeHtml(ctx.publicUrl)}</a>, run <code>mayfly ls</code>, ` +
  `or <code>curl -H 'Authorization: Bearer &lt;token&gt;' ${escapeHtml(ctx.publicUrl)}/api/v1/environments</code>.</p>`;

export function unknownHostPage(ctx: PageContext, host: string | undefined): Page {
  return {
    status: 404, title: 'No environment here',
    body: `<h1>No environment at this address</h1><p><code>${escapeHtml(host ?? '(no Host header)')}</code> is not an environment address. ` +
      `Environments are served at <code>${escapeHtml(ctx.exampleAddress)}</code>.</p>${listHelp(ctx)}`,
  };
}

export function unknownNamePage(ctx: PageContext, name: string): Page {
  return {
    status: 404, title: `${name}: no such environment`,
    body: `<h1>No environment named <code>${escapeHtml(name)}</code></h1><p>Nothing by that name was ever created here, or the name is mistyped.</p>${listHelp(ctx)}`,
  };
}

export function startingPage(env: Environment): Page {
  return {
    status: 503, title: `${env.name} is starting`, refreshSeconds: 3,
    body: `<h1><code>${escapeHtml(env.name)}</code> is starting</h1><p>It is ${escapeHtml(env.status)} (template ${escapeHtml(env.template)}); ` +
      `environments usually take under a minute. This page refreshes itself and shows the app once it is ready.</p>`,
  };
}

export function wakingPage(env: Environment): Page {
  return {
    status: 503, title: `${env.name} is waking up`, refreshSeconds: 2,
    body: `<h1><code>${escapeHtml(env.name)}</code> is waking up</h1><p>It was asleep after a while without traffic; its containers are starting again, with its data. ` +
      `This page refreshes itself and shows the app once it is healthy.</p>`,
  };
}

export function failedPage(ctx: PageContext, env: Environment): Page {
  const failure = env.failure ? `<p>Failure <code>${escapeHtml(env.failure.code)}</code>: ${escapeHtml(env.failure.message.slice(0, 2000))}</p>` : '';
  return {
    status: 502, title: `${env.name} failed`,
    body: `<h1><code>${escapeHtml(env.name)}</code> failed</h1>${failure}` +
      `<p>Its timeline: <a href="${escapeHtml(`${ctx.publicUrl}/api/v1/environments/${env.name}/events`)}">events</a>. A redeploy (<code>PUT</code> or <code>mayfly up</code>) retries it.</p>`,
  };
}

export function gonePage(ctx: PageContext, env: Environment): Page {
  const going = env.status === 'destroying';
  const reason = env.destroyReason ?? 'destroyed';
  return {
    status: 410, title: `${env.name} ${going ? 'is going away' : 'is gone'}`,
    body: `<h1><code>${escapeHtml(env.name)}</code> ${going ? 'is being torn down' : 'was destroyed'}</h1>` +
      `<p>Reason: <strong>${escapeHtml(reason)}</strong>${env.destroyedBy ? ` (by ${escapeHtml(env.destroyedBy)})` : ''}` +
      `${env.destroyedAt ? `, at ${escapeHtml(env.destroyedAt.toISOString())}` : ''}.</p>${listHelp(ctx)}`,
  };
}

export function upstreamErrorPage(env: Environment, detail: string): Page {
  return {
    status: 502, title: `${env.name} did not answer`, refreshSeconds: 5,
    body: `<h1><code>${escapeHtml(env.name)}</code> did not answer</h1><p>The router could not reach its ${escapeHtml('entry service')}: ${escapeHtml(detail)}. ` +
      `It may be restarting; this page tries again in a few seconds.</p>`,
  };
}
