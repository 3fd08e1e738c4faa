/** Durations as users type them: "30s", "15m", "4h", "2d", "1h30m". Plain numbers are seconds. */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses a duration to whole seconds, or returns undefined when it is not one. */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? input : undefined;
  if (typeof input !== 'string') return undefined;
  const text = input.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text) > 0 ? Number(text) : undefined;
  const m = DURATION.exec(text);
  if (!m || text === '') return undefined;
  const [, d, h, min, s] = m;
  const total = Number(d ?? 0) * UNIT_SECONDS.d! + Number(h ?? 0) * UNIT_SECONDS.h! + Number(min ?? 0) * 60 + Number(s ?? 0);
  return total > 0 ? total : undefined;
}

/** Formats seconds the way parseDuration reads them: 5400 -> "1h30m". */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  let rest = Math.round(seconds);
  let out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
