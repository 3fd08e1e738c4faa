/** HTTP-level helpers for the web pages and server-sent event streams (no browser). */

export interface Browserless {
  cookie: string;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; html: string; headers: Headers }>;
  post(path: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<{ status: number; html: string; headers: Headers }>;
  /** The CSRF token in the forms of a page. */
  csrf(path?: string): Promise<string>;
}

/** A cookie jar of one: the session cookie, as a browser would keep it. */
export function visitor(baseUrl: string, cookie = ''): Browserless {
  const v: Browserless = {
    cookie,
    async get(path, headers = {}) {
      const res = await fetch(`${baseUrl}${path}`, { redirect: 'manual', headers: { ...(v.cookie ? { cookie: v.cookie } : {}), accept: 'text/html', ...headers } });
      keep(res);
      return { status: res.status, html: await res.text(), headers: res.headers };
    },
    async post(path, fields, headers = {}) {
      const res = await fetch(`${baseUrl}${path}`, {
        method: 'POST', redirect: 'manual', body: new URLSearchParams(fields),
        headers: { ...(v.cookie ? { cookie: v.cookie } : {}), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
      });
      keep(res);
      return { status: res.status, html: await res.text(), headers: res.headers };
    },
    async csrf(path = '/sign-in') {
      const { html } = await v.get(path);
      const m = /name="_csrf" value="([^"]+)"/.exec(html);
      if (!m) throw new Error(`no CSRF token on ${path}`);
      return m[1]!;
    },
  };
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) if (c.startsWith('mayfly_session=')) v.cookie = c.split(';')[0]!;
  };
  return v;
}

export async function signIn(baseUrl: string, token: string): Promise<Browserless> {
  const v = visitor(baseUrl);
  const res = await v.post('/sign-in', { _csrf: await v.csrf(), token, next: '/' });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
  return v;
}

/** The session cookie with the one-time message a form's redirect set (the jar keeps only the session). */
export const withFlash = (cookie: string, headers: Headers) => [cookie, ...headers.getSetCookie().filter((c) => c.startsWith('mayfly_flash=')).map((c) => c.split(';')[0]!)].join('; ');

/** The flash message a page shows (entities decoded), as `ok: ...` or `error: ...`, or ''. */
export function flash(html: string): string {
  const m = /<p class="flash flash-(ok|error)"[^>]*>([\s\S]*?)<\/p>/.exec(html);
  return m ? `${m[1]}: ${m[2]!.replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')}` : '';
}

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream until `until` returns true for the messages so far, the
 * stream ends, or the time is up. Comments (heartbeats) are counted in `comments`.
 */
export async function readEvents(
  url: string, headers: Record<string, string>, until: (messages: SseMessage[], comments: number) => boolean, timeoutMs: number,
): Promise<{ status: number; contentType: string; messages: SseMessage[]; comments: number; ended: boolean }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const messages: SseMessage[] = [];
  let comments = 0;
  let ended = false;
  let stopped = false;
  let buffer = '';
  try {
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const msg: SseMessage = { event: 'message', data: '' };
        let hasData = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) { comments++; continue; }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') msg.id = value;
          else if (field === 'event') msg.event = value;
          else if (field === 'data') { msg.data += (hasData ? '\n' : '') + value; hasData = true; }
        }
        if (hasData) messages.push(msg);
      }
      if (until(messages, comments)) { stopped = true; break; }
    }
    ended = !stopped && !abort.signal.aborted;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', messages, comments, ended };
}
