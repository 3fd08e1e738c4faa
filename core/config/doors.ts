import { ConfigError, type ConfigReader } from './read.js';
import { parseCallbackAllow, type CallbackAllowList } from '../doors/outbound-guard.js';

/**
 * Configuration of the doors other than the REST API (Slack, the GitHub webhook, callbacks) and
 * of the notifier. Part of the one frozen Config (config.doors); parsed by loadConfig.
 */
export interface DoorsConfig {
  /** SLACK_SIGNING_SECRET; unset: /slack/commands answers 404. */
  slackSigningSecret?: string;
  /**
   * SLACK_TEAM_IDS: the Slack workspaces (team ids, e.g. T0123ABCD) whose commands are served;
   * a command from another workspace is refused. Empty: every workspace the app is installed in.
   */
  slackTeamIds: readonly string[];
  /**
   * MAYFLY_SLACK_BOT_TOKEN (a bot token, `xoxb-...`, scope chat:write); unset: Slack hears back
   * through the command's response_url only (five messages within 30 minutes). Set: a deploy from
   * Slack gets one channel message kept up to date, an expiry warning with Extend and Destroy
   * buttons (POST /slack/interactivity) and the reason when it goes.
   */
  slackBotToken?: string;
  /** MAYFLY_SLACK_API_URL: Slack's Web API (chat.postMessage, chat.update); tests point it at a stand-in. */
  slackApiUrl: string;
  /** MAYFLY_SLACK_EXPIRY_WARNING: how long before its lease ends the Slack message's thread gets the warning with buttons. */
  slackExpiryWarningMs: number;
  /** GITHUB_WEBHOOK_SECRET; unset: /webhooks/github answers 404. */
  githubWebhookSecret?: string;
  /** MAYFLY_GITHUB_TEMPLATE: the template of pull-request environments (`<template>-pr-<n>`). */
  githubTemplate?: string;
  /** MAYFLY_GITHUB_TAG: `pr` (tag `pr-<number>`) or `sha` (the head commit). */
  githubTag: 'pr' | 'sha';
  /** MAYFLY_GITHUB_ALLOW_FORKS: give pull requests from forks an environment too. */
  githubAllowForks: boolean;
  /** MAYFLY_GITHUB_API_URL: where commit statuses are posted. */
  githubApiUrl: string;
  /** MAYFLY_GITHUB_TOKEN; unset: no commit status, pull request comment, deployment or command answer is posted. */
  githubToken?: string;
  /**
   * MAYFLY_GITHUB_COMMENT_DEBOUNCE: the pull request's live comment and deployment are written
   * once the environment's events have been quiet this long (a burst of pushes is one edit), and
   * at the latest ten times this after the first unwritten change.
   */
  githubCommentDebounceMs: number;
  /** MAYFLY_GITLAB_WEBHOOK_TOKEN; unset: /webhooks/gitlab answers 404. Compared in constant time with X-Gitlab-Token. */
  gitlabWebhookToken?: string;
  /** MAYFLY_GITLAB_TEMPLATE: the template of merge-request environments (`<template>-mr-<iid>`). */
  gitlabTemplate?: string;
  /** MAYFLY_GITLAB_TAG: `mr` (tag `mr-<iid>`) or `sha` (the last commit). */
  gitlabTag: 'mr' | 'sha';
  /** MAYFLY_GITLAB_URL: the GitLab instance whose API (`/api/v4`) gets the merge request's note. */
  gitlabUrl: string;
  /** MAYFLY_GITLAB_TOKEN (sent as PRIVATE-TOKEN); unset: no note is written. */
  gitlabToken?: string;
  /** MAYFLY_BADGES: `public` (GET /badge/<name>.svg shows name and status to anyone) or `off` (every badge says unknown). */
  badges: 'public' | 'off';
  /** MAYFLY_CALLBACK_SECRET; unset: a `callbackUrl` in a request is refused. */
  callbackSecret?: string;
  /**
   * MAYFLY_CALLBACK_ALLOW: networks and host names callbacks may reach although they are not
   * public (loopback, private, link-local...); empty: public addresses only (core/doors/outbound-guard.ts).
   */
  callbackAllow: CallbackAllowList;
  /** MAYFLY_EXPIRY_WARNING: how long before its lease ends an owner is warned. */
  expiryWarningMs: number;
  /** MAYFLY_NOTIFY_INTERVAL: how often the notifier runs. */
  notifyIntervalMs: number;
  /** MAYFLY_OUTBOUND_TIMEOUT: timeout of every outbound HTTP request of the notifier. */
  outboundTimeoutMs: number;
  /** MAYFLY_NOTIFY_ATTEMPTS: attempts per notification before it is given up (exponential backoff). */
  notifyAttempts: number;
}

type Helpers = ConfigReader;

function secret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  if (value.length < 8) throw new ConfigError(name, 'must be at least 8 characters long');
  return value;
}

export function loadDoorsConfig(env: NodeJS.ProcessEnv, h: Helpers): DoorsConfig {
  const githubTag = env.MAYFLY_GITHUB_TAG || 'pr';
  if (githubTag !== 'pr' && githubTag !== 'sha') throw new ConfigError('MAYFLY_GITHUB_TAG', `must be "pr" or "sha", got "${githubTag}"`);
  const githubWebhookSecret = secret(env, 'GITHUB_WEBHOOK_SECRET');
  const githubTemplate = env.MAYFLY_GITHUB_TEMPLATE || undefined;
  if (githubTemplate !== undefined && !/^[a-z0-9][a-z0-9-]{0,40}$/.test(githubTemplate)) {
    throw new ConfigError('MAYFLY_GITHUB_TEMPLATE', `must be a template name, got "${githubTemplate}"`);
  }
  if (githubWebhookSecret && !githubTemplate) throw new ConfigError('MAYFLY_GITHUB_TEMPLATE', 'is required when GITHUB_WEBHOOK_SECRET is set: the template of pull-request environments');
  const gitlabTag = env.MAYFLY_GITLAB_TAG || 'mr';
  if (gitlabTag !== 'mr' && gitlabTag !== 'sha') throw new ConfigError('MAYFLY_GITLAB_TAG', `must be "mr" or "sha", got "${gitlabTag.slice(0, 20)}"`);
  const gitlabWebhookToken = secret(env, 'MAYFLY_GITLAB_WEBHOOK_TOKEN');
  const gitlabTemplate = env.MAYFLY_GITLAB_TEMPLATE || undefined;
  if (gitlabTemplate !== undefined && !/^[a-z0-9][a-z0-9-]{0,40}$/.test(gitlabTemplate)) {
    throw new ConfigError('MAYFLY_GITLAB_TEMPLATE', `must be a template name, got "${gitlabTemplate.slice(0, 50)}"`);
  }
  if (gitlabWebhookToken && !gitlabTemplate) throw new ConfigError('MAYFLY_GITLAB_TEMPLATE', 'is required when MAYFLY_GITLAB_WEBHOOK_TOKEN is set: the template of merge-request environments');
  const badges = env.MAYFLY_BADGES || 'public';
  if (badges !== 'public' && badges !== 'off') throw new ConfigError('MAYFLY_BADGES', `must be "public" or "off", got "${badges.slice(0, 20)}"`);
  let callbackAllow: CallbackAllowList;
  try {
    callbackAllow = parseCallbackAllow(env.MAYFLY_CALLBACK_ALLOW ?? '');
  } catch (err) {
    throw new ConfigError('MAYFLY_CALLBACK_ALLOW', (err as Error).message);
  }
  const doors: DoorsConfig = {
    ...(secret(env, 'SLACK_SIGNING_SECRET') ? { slackSigningSecret: env.SLACK_SIGNING_SECRET } : {}),
    slackTeamIds: slackTeamIds(env.SLACK_TEAM_IDS ?? ''),
    ...(secret(env, 'MAYFLY_SLACK_BOT_TOKEN') ? { slackBotToken: env.MAYFLY_SLACK_BOT_TOKEN } : {}),
    slackApiUrl: h.url('MAYFLY_SLACK_API_URL', 'https://slack.com/api', ['http:', 'https:']).replace(/\/$/, ''),
    slackExpiryWarningMs: h.duration('MAYFLY_SLACK_EXPIRY_WARNING', '15m'),
    ...(githubWebhookSecret ? { githubWebhookSecret } : {}),
    ...(githubTemplate ? { githubTemplate } : {}),
    githubTag,
    githubAllowForks: h.onOff('MAYFLY_GITHUB_ALLOW_FORKS', false),
    githubApiUrl: h.url('MAYFLY_GITHUB_API_URL', 'https://api.github.com', ['http:', 'https:']).replace(/\/$/, ''),
    ...(env.MAYFLY_GITHUB_TOKEN ? { githubToken: env.MAYFLY_GITHUB_TOKEN } : {}),
    githubCommentDebounceMs: h.duration('MAYFLY_GITHUB_COMMENT_DEBOUNCE', '3s'),
    ...(gitlabWebhookToken ? { gitlabWebhookToken } : {}),
    ...(gitlabTemplate ? { gitlabTemplate } : {}),
    gitlabTag,
    gitlabUrl: h.url('MAYFLY_GITLAB_URL', 'https://gitlab.com', ['http:', 'https:']).replace(/\/$/, ''),
    ...(env.MAYFLY_GITLAB_TOKEN ? { gitlabToken: env.MAYFLY_GITLAB_TOKEN } : {}),
    badges,
    ...(secret(env, 'MAYFLY_CALLBACK_SECRET') ? { callbackSecret: env.MAYFLY_CALLBACK_SECRET } : {}),
    callbackAllow,
    expiryWarningMs: h.duration('MAYFLY_EXPIRY_WARNING', '15m'),
    notifyIntervalMs: h.duration('MAYFLY_NOTIFY_INTERVAL', '2s'),
    outboundTimeoutMs: h.duration('MAYFLY_OUTBOUND_TIMEOUT', '10s'),
    notifyAttempts: h.int('MAYFLY_NOTIFY_ATTEMPTS', 8, 1, 30),
  };
  return Object.freeze(doors);
}

function slackTeamIds(text: string): string[] {
  const ids = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const id of ids) if (!/^[TE][A-Z0-9]{1,20}$/.test(id)) throw new ConfigError('SLACK_TEAM_IDS', `has "${id.slice(0, 30)}", which is not a Slack team id (such as T0123ABCD)`);
  return ids;
}
