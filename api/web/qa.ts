/**
 * What the QA pages compute besides rendering (api/web/pages.ts calls these): the timeline's
 * grouping of repeated progress lines, the list's "needs attention" order, "another one like
 * this" (a form prefilled from an environment), the registry's tags for the form, and the
 * overview page's numbers and charts.
 */
import type { Environment } from '../../core/domain/environment.js';
import { formatDuration } from '../../core/domain/duration.js';
import { parseImageRef } from '../../core/domain/image-ref.js';
import type { Template as TemplateMeta, TemplateCatalog } from '../../core/catalog/templates.js';
import type { RegistryTags } from '../../core/catalog/registry-tags.js';
import type { Admission, QueueInfo } from '../../core/app/admission.js';
import type { OverviewStore } from '../../core/store/overview.js';
import { barChart } from './charts.js';

// ---- the timeline ------------------------------------------------------------------------------

export interface PresentedEvent { id: number; at: string; type: string; status: string | null; message: string; data: Record<string, unknown> | null }

export interface TimelineRow {
  /** Set for a group of consecutive progress lines ("pull progress"), else undefined. */
  group?: { key: string; label: string; count: number; items: PresentedEvent[] };
  /** The row's (last) event. */
  event: PresentedEvent;
  /** A lone progress line's group key: the next one of its step (arriving live) folds into it. */
  key?: string;
}

/** The key under which consecutive events fold into one row: progress lines of one step. */
export function groupKey(e: { type: string; data: Record<string, unknown> | null }): string | undefined {
  if (e.type !== 'progress') return undefined;
  const step = typeof e.data?.step === 'string' ? e.data.step : '';
  return `progress:${step}`;
}

/** Consecutive progress lines of one step become one row ("pull progress ×37"), the latest line shown. */
export function groupTimeline(events: PresentedEvent[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  for (const e of events) {
    const key = groupKey(e);
    const last = rows.at(-1);
    if (key && last?.group?.key === key) {
      last.group.items.push(e);
      last.group.count++;
      last.event = e;
    } else if (key) {
      const step = key.slice('progress:'.length);
      rows.push({ group: { key, label: `${step ? `${step} ` : ''}progress`, count: 1, items: [e] }, event: e });
    } else {
      rows.push({ event: e });
    }
  }
  // A progress line with no repeat stays a plain row.
  return rows.map((r) => (r.group && r.group.count === 1 ? { event: r.event, key: r.group.key } : r));
}

// ---- the environments list ---------------------------------------------------------------------

/** Within this much of its expiry an environment "expires soon" and moves up the list. */
export const EXPIRING_SOON_SECONDS = 3600;

/**
 * What needs attention first: failed, then expiring soon (soonest first), then the rest; in each,
 * the viewer's own first; otherwise the order the store gave (newest first).
 */
export function attentionOrder(envs: Environment[], viewer: string, now = Date.now()): { env: Environment; attention: 'failed' | 'expiring' | undefined }[] {
  const ranked = envs.map((env, i) => {
    const left = env.expiresAt.getTime() - now;
    const attention = env.status === 'failed' ? 'failed' as const
      : env.status !== 'destroyed' && env.status !== 'destroying' && left <= EXPIRING_SOON_SECONDS * 1000 ? 'expiring' as const : undefined;
    return { env, attention, i, rank: attention === 'failed' ? 0 : attention === 'expiring' ? 1 : 2, left };
  });
  ranked.sort((a, b) => a.rank - b.rank
    || Number(b.env.owner === viewer) - Number(a.env.owner === viewer)
    || (a.rank === 1 ? a.left - b.left : 0)
    || a.i - b.i);
  return ranked.map(({ env, attention }) => ({ env, attention }));
}

// ---- another one like this ---------------------------------------------------------------------

/** A free name like `name`: `shop-pr-1` -> `shop-pr-1-2`, `x-2` -> `x-3`; `taken` says which are live. */
export async function suggestName(name: string, taken: (candidate: string) => Promise<boolean>): Promise<string> {
  const m = /^(.*?)-(\d{1,4})$/.exec(name);
  const stem = m ? m[1]! : name;
  let n = m ? Number(m[2]) + 1 : 2;
  for (let tries = 0; tries < 50; tries++, n++) {
    const candidate = `${stem.slice(0, 63 - String(n).length - 1)}-${n}`;
    if (!(await taken(candidate))) return candidate;
  }
  return '';
}

/**
 * The form's values that ask for what `env` runs: its template, one tag when all its taggable
 * images share it, a tag (or a whole reference) for each service that differs from that, its
 * seed and TTL.
 */
export function prefillFrom(env: Environment, template: TemplateMeta, catalog: TemplateCatalog): Record<string, string> {
  const values: Record<string, string> = {};
  const repoOf = (image: string) => parseImageRef(image)?.repository;
  const taggable = Object.entries(template.images).filter(([s, spec]) => spec.taggable && env.images[s] && repoOf(env.images[s]!) === repoOf(spec.image));
  const tags = new Set(taggable.map(([s]) => parseImageRef(env.images[s]!)?.tag).filter(Boolean));
  let tag: string | undefined;
  if (tags.size === 1) tag = [...tags][0];
  const resolved = catalog.resolveImages(template.name, tag, {});
  if (tag && tag !== parseImageRef(Object.values(template.images).find((i) => i.taggable)?.image ?? '')?.tag) values.tag = tag;
  for (const [service, image] of Object.entries(env.images)) {
    const spec = template.images[service];
    if (!spec || resolved[service] === image) continue;
    const ref = parseImageRef(image);
    values[`images.${service}`] = ref && ref.repository === repoOf(spec.image) && ref.tag && !ref.digest ? ref.tag : image;
  }
  if (env.seed) values.seed = env.seed;
  values.ttl = formatDuration(env.ttlSeconds);
  return values;
}

// ---- the registry's tags -----------------------------------------------------------------------

/** "3 h ago", "2 d ago", "just now". */
export function ago(at: Date, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at.getTime()) / 1000));
  if (s < 60) return 'just now';
  return `${formatDuration(s < 3600 ? Math.round(s / 60) * 60 : s < 86_400 ? Math.round(s / 3600) * 3600 : Math.round(s / 86_400) * 86_400)} ago`;
}

const stamp = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export interface TagChoice { tag: string; pushed: string; pushedAt: string; label: string }

export interface ServiceTags { tags: TagChoice[]; note?: string }

/** The tags of every image of the template, by service, newest first; a note when they are unknown. */
export async function tagsOfTemplate(registry: RegistryTags, template: TemplateMeta): Promise<Record<string, ServiceTags>> {
  const out: Record<string, ServiceTags> = {};
  await Promise.all(Object.entries(template.images).map(async ([service, spec]) => {
    const listing = await registry.tagsOf(spec.image);
    if (!listing.checked) { out[service] = { tags: [], note: `Tags unknown: ${listing.why}. Type one.` }; return; }
    out[service] = {
      tags: listing.tags.map((t) => ({
        tag: t.tag, pushed: t.created ? ago(t.created) : '', pushedAt: t.created ? t.created.toISOString() : '',
        label: t.created ? `${t.tag} · pushed ${ago(t.created)} (${stamp(t.created)})` : t.tag,
      })),
      ...(listing.tags.length ? {} : { note: `${listing.repository} has no tags in the registry yet.` }),
    };
  }));
  return out;
}

// ---- the overview page -------------------------------------------------------------------------

const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)} MiB`;
const secondsText = (s: number) => (s < 120 ? `${Math.round(s)} s` : formatDuration(Math.round(s)));

export async function overviewContext(overview: OverviewStore, admission: Admission, catalog: TemplateCatalog, now = new Date()) {
  const since = new Date(now.getTime() - 24 * 3600_000);
  const [capacity, waiting, failures, hours, line, pool] = await Promise.all([
    overview.capacity(), overview.waiting(), overview.failures(since), overview.hourly(24), admission.lineInfo(), admission.poolStats(),
  ]);
  const limits = admission.limits;
  const holding = capacity.filter((r) => r.holdsCapacity && r.status !== 'failed' && r.status !== 'destroyed');
  const memoryOf = (template: string) => admission.memoryOf(template);
  const heldCount = holding.reduce((n, r) => n + r.count, 0);
  const heldMemory = holding.reduce((n, r) => n + r.count * memoryOf(r.template), 0);
  const percent = (used: number, max: number) => (max ? Math.min(100, Math.round((100 * used) / max)) : 0);

  type Tally = { name: string; team?: string; running: number; memory: number; queued: number; failed: number };
  const tally = (key: (r: (typeof capacity)[number]) => string, team?: (r: (typeof capacity)[number]) => string) => {
    const m = new Map<string, Tally>();
    for (const r of capacity) {
      const k = key(r);
      const t = m.get(k) ?? { name: k, ...(team ? { team: team(r) } : {}), running: 0, memory: 0, queued: 0, failed: 0 };
      if (r.holdsCapacity && r.status !== 'failed') { t.running += r.count; t.memory += r.count * memoryOf(r.template); }
      if (r.status === 'queued' && !r.holdsCapacity) t.queued += r.count;
      if (r.status === 'failed') t.failed += r.count;
      m.set(k, t);
    }
    return [...m.values()].sort((a, b) => b.running - a.running || b.queued - a.queued || a.name.localeCompare(b.name))
      .map((t) => ({ ...t, memoryText: mib(t.memory), ofMax: limits.maxPerOwner && team ? `${t.running} of ${limits.maxPerOwner}` : String(t.running), atLimit: !!(limits.maxPerOwner && team && t.running >= limits.maxPerOwner) }));
  };

  const hourLabel = (d: Date) => `${d.toISOString().slice(11, 13)}:00`;
  const charts = [
    barChart({
      id: 'chart-running', title: 'Environments running', unit: 'environments',
      desc: `Environments ready at the end of each hour over the last 24 hours; now ${hours.at(-1)?.running ?? 0}, at most ${Math.max(0, ...hours.map((h) => h.running))}.`,
      points: hours.map((h) => ({ label: hourLabel(h.start), value: h.running, text: String(h.running) })),
    }),
    barChart({
      id: 'chart-ready', title: 'Request to ready', unit: 'median seconds',
      desc: (() => {
        const got = hours.filter((h) => h.medianReadySeconds !== null);
        return got.length ? `Median time from request to ready of the environments that became ready in each hour; ${hours.reduce((n, h) => n + h.readied, 0)} became ready, the slowest hour's median was ${secondsText(Math.max(...got.map((h) => h.medianReadySeconds!)))}.` : 'No environment became ready in the last 24 hours.';
      })(),
      format: secondsText,
      points: hours.map((h) => ({
        label: hourLabel(h.start), value: h.medianReadySeconds,
        text: h.medianReadySeconds === null ? 'none ready' : `${secondsText(h.medianReadySeconds)} (${h.readied} ready, slowest ${secondsText(h.maxReadySeconds ?? 0)})`,
      })),
    }),
    barChart({
      id: 'chart-failures', title: 'Failures', unit: 'failures',
      desc: `Environments that failed in each hour over the last 24 hours; ${hours.reduce((n, h) => n + h.failures, 0)} in all.`,
      points: hours.map((h) => ({ label: hourLabel(h.start), value: h.failures, text: String(h.failures) })),
    }),
  ];

  const queue = waiting.map((w, i) => {
    const info: QueueInfo | undefined = line.get(w.id);
    return {
      position: info?.position ?? i + 1, name: w.name, owner: w.owner, team: w.team, template: w.template,
      since: w.queuedAt.toISOString(), waited: ago(w.queuedAt, now.getTime()).replace(' ago', ''),
      estimate: info ? `in about ${secondsText(info.estimatedStartSeconds)}` : 'when a worker takes it',
      // Not in admission's line: it fits now (a recorded waiting reason is stale) and starts when a worker takes it.
      reason: info?.reason ?? (admission.limited ? 'it fits now: starting' : 'waiting for a worker (no admission limits)'),
    };
  });

  return {
    title: 'Overview',
    limits: {
      environments: { used: heldCount, max: limits.maxEnvironments, text: limits.maxEnvironments ? `${heldCount} of ${limits.maxEnvironments}` : `${heldCount} (no limit)`, percent: percent(heldCount, limits.maxEnvironments) },
      memory: { used: heldMemory, max: limits.memoryBudgetBytes, text: limits.memoryBudgetBytes ? `${mib(heldMemory)} of ${mib(limits.memoryBudgetBytes)}` : `${mib(heldMemory)} (no budget)`, percent: percent(heldMemory, limits.memoryBudgetBytes) },
      perOwner: limits.maxPerOwner ? `at most ${limits.maxPerOwner} per owner` : 'no limit per owner',
    },
    owners: tally((r) => r.owner, (r) => r.team),
    teams: tally((r) => r.team),
    queue,
    failures: failures.map((f) => ({ ...f, at: f.at.toISOString(), ago: ago(f.at, now.getTime()) })),
    charts,
    templates: catalog.list().map((t) => ({ name: t.name, memory: mib(memoryOf(t.name)) })),
    // The warm pool: standbys hold capacity too (admission counts them), beside the environments above.
    pool: pool.map((p) => ({ ...p, memory: mib((p.starting + p.ready) * memoryOf(p.template)), hitRate: p.hits + p.misses ? `${Math.round((100 * p.hits) / (p.hits + p.misses))}%` : '–' })),
  };
}
