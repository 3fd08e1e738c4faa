import { OutboundError, safeUrl, sendJson } from './http-out.js';

/**
 * The little of Slack's Web API that Mayfly uses with a bot token (MAYFLY_SLACK_BOT_TOKEN):
 * chat.postMessage (the environment's one channel message, and the expiry warning in its thread)
 * and chat.update (editing them). Base URL from MAYFLY_SLACK_API_URL, so tests point it at a
 * loopback stand-in. Only the worker's notifier calls it; every call has a timeout
 * (core/doors/http-out.ts).
 *
 * Slack answers HTTP 200 with `{"ok": false, "error": "..."}` for most refusals, and 429 with
 * Retry-After when rate limited: both become a SlackApiError saying what to do.
 */
export interface SlackMessage {
  /** The fallback text (notifications, screen readers); also what a client without blocks shows. */
  text: string;
  blocks: unknown[];
}

export interface Posted {
  channel: string;
  ts: string;
}

/** What to do about each of Slack's refusals (the ones a running Mayfly can meet). */
export const SLACK_ERROR_HINTS: Record<string, string> = {
  not_in_channel: 'invite the Mayfly app to the channel (/invite @<app>), or give it the chat:write.public scope',
  channel_not_found: 'the channel is private or gone: invite the Mayfly app to it',
  is_archived: 'the channel is archived: unarchive it or deploy from another channel',
  invalid_auth: 'MAYFLY_SLACK_BOT_TOKEN is not valid: copy the Bot User OAuth Token (xoxb-...) again',
  not_authed: 'MAYFLY_SLACK_BOT_TOKEN was not sent: set it',
  token_revoked: 'MAYFLY_SLACK_BOT_TOKEN was revoked: reinstall the app and set the new token',
  account_inactive: 'the app was uninstalled: reinstall it and set the new token',
  missing_scope: 'the app lacks the chat:write scope: add it and reinstall',
  ratelimited: 'Slack rate-limits the app: retried after the time Slack asks',
  message_not_found: 'the message was deleted: a new one is posted',
  cant_update_message: 'the message was not posted by this app: a new one is posted',
};

/** Errors after which the message is written again as a new one (it was deleted, or is not ours). */
export const SLACK_GONE_ERRORS = new Set(['message_not_found', 'cant_update_message']);

export class SlackApiError extends OutboundError {
  constructor(readonly method: string, readonly error: string, retryAfterMs?: number, status?: number) {
    const hint = SLACK_ERROR_HINTS[error] ?? 'see https://api.slack.com/methods/' + method;
    super(`Slack ${method} answered ${error}${retryAfterMs !== undefined ? ` (retry after ${Math.ceil(retryAfterMs / 1000)} s)` : ''}: ${hint}`, status, true, retryAfterMs);
    this.name = 'SlackApiError';
  }
}

/** Slack ids as they come from Slack: a channel (C..., G..., D...) and a message timestamp (1700000000.000100). */
export function assertChannel(channel: string): void {
  if (!/^[CGD][A-Z0-9]{1,30}$/.test(channel)) throw new Error(`not a Slack channel id: "${channel.slice(0, 40)}"`);
}
export function assertTs(ts: string): void {
  if (!/^\d{1,12}\.\d{1,8}$/.test(ts)) throw new Error(`not a Slack message timestamp: "${ts.slice(0, 40)}"`);
}

export class SlackClient {
  constructor(private readonly apiUrl: string, private readonly token: string, private readonly timeoutMs: number) {}

  private async call<T extends Record<string, unknown>>(method: string, body: Record<string, unknown>): Promise<T & { ok: true }> {
    const url = `${this.apiUrl}/${method}`;
    let text: string;
    try {
      ({ text } = await sendJson('POST', url, JSON.stringify(body), { authorization: `Bearer ${this.token}`, 'content-type': 'application/json; charset=utf-8' }, this.timeoutMs));
    } catch (err) {
      // Slack's rate limit is a 429 whose body says `ratelimited`: named as Slack names it.
      if (err instanceof OutboundError && err.status === 429) throw new SlackApiError(method, 'ratelimited', err.retryAfterMs ?? 1000, 429);
      throw err;
    }
    let answer: { ok?: unknown; error?: unknown } & Record<string, unknown>;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new OutboundError(`POST ${safeUrl(url)} answered something that is not JSON`);
    }
    if (answer?.ok !== true) throw new SlackApiError(method, typeof answer?.error === 'string' ? answer.error.slice(0, 60) : 'unknown_error');
    return answer as T & { ok: true };
  }

  /** Posts a message (in a thread when `threadTs`); returns where it went. */
  async post(channel: string, message: SlackMessage, opts: { threadTs?: string; broadcast?: boolean } = {}): Promise<Posted> {
    assertChannel(channel);
    if (opts.threadTs) assertTs(opts.threadTs);
    const made = await this.call<{ channel?: unknown; ts?: unknown }>('chat.postMessage', {
      channel, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false,
      ...(opts.threadTs ? { thread_ts: opts.threadTs, reply_broadcast: opts.broadcast ?? false } : {}),
    });
    if (typeof made.ts !== 'string') throw new OutboundError('Slack chat.postMessage answered without a message ts');
    return { channel: typeof made.channel === 'string' ? made.channel : channel, ts: made.ts };
  }

  /** Replaces a message's text and blocks. */
  async update(channel: string, ts: string, message: SlackMessage): Promise<void> {
    assertChannel(channel);
    assertTs(ts);
    await this.call('chat.update', { channel, ts, text: message.text, blocks: message.blocks });
  }
}
