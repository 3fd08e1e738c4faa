/**
 * What every part of the configuration loader shares: the error that names a variable, and the
 * typed readers each part receives (so no part imports config.ts, which imports them all).
 */
export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

/** Typed readers of one environment variable each; a wrong value throws a ConfigError naming it. */
export interface ConfigReader {
  int(name: string, fallback: number, min?: number, max?: number): number;
  /** Milliseconds. */
  duration(name: string, fallback: string): number;
  url(name: string, fallback: string, protocols: string[]): string;
  onOff(name: string, fallback: boolean): boolean;
}

const MEMORY = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i;
export function parseMemory(text: string): number | undefined {
  const m = MEMORY.exec(text.trim());
  if (!m) return undefined;
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = Math.round(Number(m[1]) * scale);
  return bytes > 0 ? bytes : undefined;
}

