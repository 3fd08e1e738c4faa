/**
 * The live badge of an environment (`/badge/<name>.svg`), for pull request descriptions: its
 * name and status, nothing else (no address, owner, team, images or failure). Pure: no I/O.
 */
import type { Status } from '../domain/environment.js';

const COLORS: Record<Status | 'unknown', string> = {
  queued: '#dbab09', provisioning: '#dbab09', ready: '#2ea44f', sleeping: '#0969da',
  failed: '#cf222e', destroying: '#6e7781', destroyed: '#6e7781', unknown: '#9f9f9f',
};

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]!));
}

/** Roughly how wide Verdana 11px draws it: good enough for a badge. */
function width(text: string): number {
  return Math.round(text.length * 6.6) + 12;
}

/** The badge of `label` (an environment's name, already validated) in `status`, or `unknown`. */
export function badgeSvg(label: string, status: Status | 'unknown'): string {
  const left = width(label);
  const right = width(status);
  const total = left + right;
  const l = xml(label);
  const r = xml(status);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="20" role="img" aria-label="${l}: ${r}">` +
    `<title>${l}: ${r}</title>` +
    `<rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${COLORS[status]}"/>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">` +
    `<text x="${left / 2}" y="14">${l}</text><text x="${left + right / 2}" y="14">${r}</text></g></svg>`;
}
