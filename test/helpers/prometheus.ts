/** Reads samples back from Prometheus text: the value of `name{labels...}` whose labels include `want`. */
export function samples(text: string, name: string, want: Record<string, string> = {}): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) out.push(Number(m[3]));
  }
  return out;
}

export const sampleSum = (text: string, name: string, want: Record<string, string> = {}) => samples(text, name, want).reduce((a, b) => a + b, 0);
