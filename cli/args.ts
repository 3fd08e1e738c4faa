/** Command-line arguments: positionals, `--flag value`, `--flag=value`, boolean flags. Pure. */
export class UsageError extends Error {}

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  flags: Record<string, string | true>;
  /** Repeatable flags (e.g. --image web=pr-2 --image api=pr-3). */
  lists: Record<string, string[]>;
}

export function parseArgs(argv: string[], spec: { booleans: string[]; values: string[]; lists?: string[] }): ParsedArgs {
  const out: ParsedArgs = { command: undefined, positionals: [], flags: {}, lists: {} };
  const lists = new Set(spec.lists ?? []);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') { out.flags.help = true; continue; }
    if (!arg.startsWith('--')) {
      if (out.command === undefined) out.command = arg;
      else out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = arg.slice(2, eq < 0 ? undefined : eq);
    if (spec.booleans.includes(key)) {
      if (eq >= 0) throw new UsageError(`--${key} takes no value`);
      out.flags[key] = true;
    } else if (spec.values.includes(key) || lists.has(key)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${key} needs a value`);
      if (lists.has(key)) (out.lists[key] ??= []).push(value);
      else out.flags[key] = value;
    } else {
      throw new UsageError(`unknown option --${key}`);
    }
  }
  return out;
}
