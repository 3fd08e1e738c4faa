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

export function startingPage(env: Environment, detailed = true): Page {
  return {
    status: 503, title: `${env.name} is starting`, refreshSeconds: 3,
    body: `<h1><code>${escapeHtml(env.name)}</code> is starting</h1><p>${detailed ? `It is ${escapeHtml(env.status)} (template ${escapeHtml(env.template)}); ` : ''}` +
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

/**
 * A failed environment. With `detailed` (someone signed in who may open it) the failure code and
 * message and the timeline's link; otherwise only that it is not available.
 */
export function failedPage(ctx: PageContext, env: Environment, detailed = true): Page {
  if (!detailed) {
    return {
      status: 502, title: `${env.name} is not available`,
      body: `<h1><code>${escapeHtml(env.name)}</code> is not available</h1><p>It could not be started. Its team can see why in Mayfly and redeploy it.</p>`,
    };
  }
  const failure = env.failure ? `<p>Failure <code>${escapeHtml(env.failure.code)}</code>: ${escapeHtml(env.failure.message.slice(0, 2000))}</p>` : '';
  return {
    status: 502, title: `${env.name} failed`,
    body: `<h1><code>${escapeHtml(env.name)}</code> failed</h1>${failure}` +
      `<p>Its timeline: <a href="${escapeHtml(`${ctx.publicUrl}/api/v1/environments/${env.name}/events`)}">events</a>. A redeploy (<code>PUT</code> or <code>mayfly up</code>) retries it.</p>`,
  };
}

export function gonePage(ctx: PageContext, env: Environment, detailed = true): Page {
  const going = env.status === 'destroying';
  const reason = env.destroyReason ?? 'destroyed';
  const why = detailed
    ? `<p>Reason: <strong>${escapeHtml(reason)}</strong>${env.destroyedBy ? ` (by ${escapeHtml(env.destroyedBy)})` : ''}` +
      `${env.destroyedAt ? `, at ${escapeHtml(env.destroyedAt.toISOString())}` : ''}.</p>${listHelp(ctx)}`
    : '<p>Test environments are temporary; ask whoever gave you this address for a current one.</p>';
  return {
    status: 410, title: `${env.name} ${going ? 'is going away' : 'is gone'}`,
    body: `<h1><code>${escapeHtml(env.name)}</code> ${going ? 'is being torn down' : 'was destroyed'}</h1>${why}`,
  };
}

/** A request without a way in, other than a browser's GET (which is redirected to sign in). */
export function signInPage(ctx: PageContext, name: string, address: string): Page {
  return {
    status: 401, title: `${name}: sign in first`,
    body: `<h1>Sign in to open <code>${escapeHtml(name)}</code></h1><p>This test environment is private. Open <a href="${escapeHtml(address)}/">${escapeHtml(address)}/</a> in a browser ` +
      `to sign in to Mayfly (<a href="${escapeHtml(ctx.publicUrl)}/">${escapeHtml(ctx.publicUrl)}</a>), or send an API token: <code>Authorization: Bearer &lt;token&gt;</code>.</p>`,
  };
}

export function badTokenPage(name: string): Page {
  return {
    status: 401, title: `${name}: token not valid`,
    body: `<h1>That token does not open <code>${escapeHtml(name)}</code></h1><p>The request sent <code>Authorization: Bearer</code> with a token that is not one of Mayfly's API tokens (MAYFLY_API_TOKENS). ` +
      'Check the token, or ask an administrator for yours.</p>',
  };
}

/** Too many wrong tokens from this address: no token is checked until the window has passed. */
export function tooManyTokensPage(name: string, retryAfterSeconds: number): Page {
  return {
    status: 429, title: `${name}: too many wrong tokens`, refreshSeconds: retryAfterSeconds,
    body: `<h1>Too many wrong tokens from this address</h1><p>Requests from here sent tokens that are not Mayfly API tokens too often, so no token is checked for <code>${escapeHtml(name)}</code> for ${retryAfterSeconds} s ` +
      '(MAYFLY_AUTH_FAILURES_PER_MINUTE). Check the token your script sends; a browser that signed in before still gets in with its cookie.</p>',
  };
}

/** Signed in, but the environment is open to its team (and admins) only: nothing about it is shown. */
export function notYoursPage(name: string, who: string): Page {
  return {
    status: 403, title: `${name}: not open to you`,
    body: `<h1>You may not open <code>${escapeHtml(name)}</code></h1><p>You are signed in as <strong>${escapeHtml(who)}</strong>; this environment is open to its team and admins only. ` +
      'Ask its team for a share link if you need to see it.</p>',
  };
}

/** A sign-in link (the handshake's ticket) or a share link that cannot be used: nothing was changed. */
export function refusedLinkPage(name: string, address: string, what: 'sign-in' | 'share', problem: string): Page {
  const next = what === 'sign-in'
    ? `<p>Open <a href="${escapeHtml(address)}/">${escapeHtml(address)}/</a> again to sign in anew.</p>`
    : '<p>Ask the environment\'s team for a new share link.</p>';
  return {
    status: 403, title: `${name}: ${what} link refused`,
    body: `<h1>This ${what} link does not open <code>${escapeHtml(name)}</code></h1><p>It was refused: ${escapeHtml(problem)}. Nothing was changed.</p>${next}`,
  };
}

export function upstreamErrorPage(env: Environment, detail: string): Page {
  return {
    status: 502, title: `${env.name} did not answer`, refreshSeconds: 5,
    body: `<h1><code>${escapeHtml(env.name)}</code> did not answer</h1><p>The router could not reach its ${escapeHtml('entry service')}: ${escapeHtml(detail)}. ` +
      `It may be restarting; this page tries again in a few seconds.</p>`,
  };
}
