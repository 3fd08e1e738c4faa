/** A size for people: "1 MiB", "1.5 GiB", "340 MiB", "12 kiB", "900 B" (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  const shown = n >= 10 || Number.isInteger(n) ? Math.round(n) : Math.round(n * 10) / 10;
  return `${shown} ${units[u]}`;
}
