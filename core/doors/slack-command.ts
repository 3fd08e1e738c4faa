/**
 * The text of Mayfly's Slack slash command, parsed. Pure: no I/O, unit-tested.
 *
 *   up <template> [tag | service=tag ...] [ttl=4h] [seed=name]
 *   list | status <name> | extend <name> <duration> | down <name> | help
 *   checkpoint <name> | checkpoints <name> | rewind <name> <checkpoint> | fork <name> <for> | capsule <name> [note ...]
 */
export type SlackCommand =
  | { kind: 'up'; template: string; tag?: string; images: Record<string, string>; ttl?: string; seed?: string }
  | { kind: 'list' }
  | { kind: 'status'; name: string }
  | { kind: 'extend'; name: string; ttl: string }
  | { kind: 'down'; name: string }
  | { kind: 'checkpoint'; name: string }
  | { kind: 'checkpoints'; name: string }
  | { kind: 'rewind'; name: string; checkpoint: string }
  | { kind: 'fork'; name: string; for: string }
  | { kind: 'capsule'; name: string; note?: string }
  | { kind: 'help' }
  | { kind: 'usage'; problem: string };

export function slackUsage(command = '/mayfly'): string {
  return [
    `*Mayfly* — ephemeral test environments. Usage:`,
    `• \`${command} up <template> [tag | service=tag ...] [ttl=4h] [seed=name]\` — create or redeploy \`<template>-<tag or your name>\``,
    `• \`${command} list\` — live environments`,
    `• \`${command} status <name>\``,
    `• \`${command} extend <name> <duration>\` — e.g. \`${command} extend shop-pr-42 2h\``,
    `• \`${command} down <name>\``,
    `• \`${command} checkpoint <name>\` — a checkpoint of its database; \`${command} checkpoints <name>\` lists them; \`${command} rewind <name> <checkpoint>\` brings one back`,
    `• \`${command} fork <name> <for>\` — \`<name>--<for>\`: the same images and a copy of its data`,
    `• \`${command} capsule <name> [what went wrong]\` — a bug capsule: its data, image digests, logs and recent requests, for a developer`,
    `• \`${command} help\``,
  ].join('\n');
}

export function parseSlackCommand(text: string): SlackCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [verb, ...args] = words;
  switch ((verb ?? '').toLowerCase()) {
    case '':
    case 'help':
      return { kind: 'help' };
    case 'list':
    case 'ls':
      return args.length ? { kind: 'usage', problem: '`list` takes no arguments' } : { kind: 'list' };
    case 'status':
    case 'down':
      if (args.length !== 1) return { kind: 'usage', problem: `\`${verb} <name>\` takes exactly one environment name` };
      return { kind: verb!.toLowerCase() as 'status' | 'down', name: args[0]! };
    case 'extend':
      if (args.length !== 2) return { kind: 'usage', problem: '`extend <name> <duration>` needs a name and a duration such as 2h' };
      return { kind: 'extend', name: args[0]!, ttl: args[1]! };
    case 'checkpoint':
      if (args.length !== 1) return { kind: 'usage', problem: '`checkpoint <name>` takes exactly one environment name' };
      return { kind: 'checkpoint', name: args[0]! };
    case 'checkpoints':
      if (args.length !== 1) return { kind: 'usage', problem: '`checkpoints <name>` takes exactly one environment name' };
      return { kind: 'checkpoints', name: args[0]! };
    case 'rewind':
      if (args.length !== 2) return { kind: 'usage', problem: '`rewind <name> <checkpoint>` needs a name and a checkpoint id such as cp-1a2b3c4d' };
      return { kind: 'rewind', name: args[0]!, checkpoint: args[1]! };
    case 'capsule':
      if (args.length < 1) return { kind: 'usage', problem: '`capsule <name> [what went wrong]` needs an environment name' };
      return { kind: 'capsule', name: args[0]!, ...(args.length > 1 ? { note: args.slice(1).join(' ') } : {}) };
    case 'fork':
      if (args.length !== 2) return { kind: 'usage', problem: '`fork <name> <for>` needs a name and who the fork is for' };
      return { kind: 'fork', name: args[0]!, for: args[1]! };
    case 'up': {
      const [template, ...rest] = args;
      if (!template || template.includes('=')) return { kind: 'usage', problem: '`up` needs a template: `up <template> [tag]`' };
      const cmd: Extract<SlackCommand, { kind: 'up' }> = { kind: 'up', template, images: {} };
      for (const word of rest) {
        const eq = word.indexOf('=');
        if (eq < 0) {
          if (cmd.tag !== undefined) return { kind: 'usage', problem: `two tags given ("${cmd.tag}" and "${word}"); use service=tag for more than one` };
          cmd.tag = word;
          continue;
        }
        const key = word.slice(0, eq);
        const value = word.slice(eq + 1);
        if (!key || !value) return { kind: 'usage', problem: `"${word}" is not key=value` };
        if (key === 'ttl') cmd.ttl = value;
        else if (key === 'seed') cmd.seed = value;
        else if (key === 'tag') {
          if (cmd.tag !== undefined) return { kind: 'usage', problem: 'two tags given' };
          cmd.tag = value;
        } else cmd.images[key] = value;
      }
      return cmd;
    }
    default:
      return { kind: 'usage', problem: `unknown subcommand "${verb}"` };
  }
}

/** A slug for environment names: lowercase letters, digits and single dashes. */
export function slugify(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * The predictable name of an environment asked for from Slack: `<template>-<slug of the tag,
 * else of the first service tag, else of the user>`, at most 63 characters, always valid.
 */
export function slackEnvironmentName(cmd: Extract<SlackCommand, { kind: 'up' }>, userName: string): string {
  const basis = cmd.tag ?? Object.values(cmd.images)[0] ?? userName;
  const slug = slugify(basis) || 'env';
  const template = slugify(cmd.template) || 'env';
  return `${template}-${slug}`.slice(0, 63).replace(/-+$/, '');
}
