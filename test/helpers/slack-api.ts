/**
 * A stand-in for Slack's Web API on 127.0.0.1 that records every call (method, path, JSON body,
 * authorization) and keeps what Mayfly writes: messages by ts (chat.postMessage makes one,
 * chat.update edits it; an unknown ts answers ok:false message_not_found, as Slack does). Tests
 * assert the exact calls, and make the next call of a method fail as Slack fails (`failNext`).
 * Anything posted elsewhere (a response_url at /response/...) is recorded too and answered "ok".
 */
import { startApiStandIn } from './standin.js';

export interface SlackCall {
  method: string;
  /** Path as sent: `/chat.postMessage`, `/chat.update`, or a response_url's. */
  path: string;
  json: any;
  authorization: string | undefined;
}

export interface SlackMessageKept { channel: string; ts: string; text: string; blocks: any[]; threadTs?: string }

export interface SlackStandIn {
  url: string;
  calls: SlackCall[];
  messages: Map<string, SlackMessageKept>;
  /** The next call of `method` answers ok:false `error` (HTTP 429 with Retry-After when `retryAfter` seconds are given). */
  failNext(method: string, error: string, retryAfter?: number): void;
  since(from: number): SlackCall[];
  close(): Promise<void>;
}

export async function startSlackStandIn(): Promise<SlackStandIn> {
  const messages = new Map<string, SlackMessageKept>();
  const failures: { method: string; error: string; retryAfter?: number }[] = [];
  let seq = 0;
  const api = await startApiStandIn((call, u): [number, unknown] | [number, unknown, Record<string, string>] => {
    const method = u.pathname.replace(/^\//, '');
    const json = call.json ?? {};
    if (call.method === 'POST' && u.pathname.startsWith('/response/')) return [200, 'ok'];
    const failure = failures.findIndex((f) => f.method === method);
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      if (f!.retryAfter !== undefined) return [429, { ok: false, error: f!.error }, { 'retry-after': String(f!.retryAfter) }];
      return [200, { ok: false, error: f!.error }];
    }
    if (call.method === 'POST' && method === 'chat.postMessage') {
      if (typeof json.channel !== 'string') return [200, { ok: false, error: 'channel_not_found' }];
      const ts = `${1_700_000_000 + ++seq}.${String(seq).padStart(6, '0')}`;
      messages.set(ts, { channel: json.channel, ts, text: json.text, blocks: json.blocks ?? [], ...(json.thread_ts ? { threadTs: json.thread_ts } : {}) });
      return [200, { ok: true, channel: json.channel, ts, message: { text: json.text } }];
    }
    if (call.method === 'POST' && method === 'chat.update') {
      const kept = messages.get(json.ts);
      if (!kept || kept.channel !== json.channel) return [200, { ok: false, error: 'message_not_found' }];
      kept.text = json.text;
      kept.blocks = json.blocks ?? [];
      return [200, { ok: true, channel: json.channel, ts: json.ts }];
    }
    return [200, { ok: false, error: 'unknown_method' }];
  });
  const calls = (): SlackCall[] => api.calls.map((c) => ({ method: c.method, path: c.path, json: c.json, authorization: c.headers.authorization }));
  return {
    url: api.url, messages, close: api.close,
    get calls() { return calls(); },
    failNext: (method, error, retryAfter) => { failures.push({ method, error, ...(retryAfter !== undefined ? { retryAfter } : {}) }); },
    since: (from) => calls().slice(from),
  };
}
