import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC signatures of the doors: Slack's request signing, GitHub's X-Hub-Signature-256, and the
 * signature Mayfly puts on its own callbacks. Every comparison is constant-time.
 */

/** Slack refuses requests whose timestamp is further than this from now, either way. */
export const SLACK_MAX_SKEW_SECONDS = 300;

export function hmacHex(secret: string, data: string | Buffer): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** Compares two strings in constant time (for equal lengths; a length mismatch is simply false). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Slack: `v0=` + HMAC-SHA256 hex of `v0:<timestamp>:<raw body>`. */
export function slackSignature(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return `v0=${hmacHex(secret, Buffer.concat([Buffer.from(`v0:${timestamp}:`, 'utf8'), Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8')]))}`;
}

export type SlackVerdict = 'ok' | 'missing' | 'stale' | 'mismatch';

/** Verifies a Slack request: signature present, timestamp within five minutes (past or future), HMAC equal. */
export function verifySlackRequest(
  secret: string, timestamp: string | undefined, signature: string | undefined, rawBody: Buffer | string, nowSeconds = Math.floor(Date.now() / 1000),
): SlackVerdict {
  if (!timestamp || !signature) return 'missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'stale';
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS) return 'stale';
  return safeEqual(slackSignature(secret, timestamp, rawBody), signature) ? 'ok' : 'mismatch';
}

/** GitHub (and Mayfly's callbacks): `sha256=` + HMAC-SHA256 hex of the raw body. */
export function sha256Signature(secret: string, rawBody: string | Buffer): string {
  return `sha256=${hmacHex(secret, rawBody)}`;
}

export function verifySha256Signature(secret: string, signature: string | undefined, rawBody: Buffer | string): boolean {
  if (!signature) return false;
  return safeEqual(sha256Signature(secret, rawBody), signature);
}
