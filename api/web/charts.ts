/**
 * Small bar charts drawn on the server as inline SVG (no JavaScript): the overview page's last
 * 24 hours. This builds a model of numbers and short labels; the view (partials/bar-chart.hbs)
 * writes the SVG with escaped values, with a <title>, a <desc> and a table as its text alternative.
 */
export interface ChartPoint {
  /** Axis label of the bar (an hour, "14:00"). */
  label: string;
  value: number | null;
  /** The bar's value as text ("3", "42 s", "no data"). */
  text: string;
}

export interface BarChart {
  id: string;
  title: string;
  desc: string;
  unit: string;
  width: number;
  height: number;
  plot: { left: number; top: number; right: number; bottom: number };
  max: number;
  maxText: string;
  bars: { x: number; y: number; w: number; h: number; label: string; text: string; showLabel: boolean; labelX: number; labelY: number }[];
  points: ChartPoint[];
  empty: boolean;
}

const W = 520;
const H = 170;
const PLOT = { left: 44, top: 12, right: W - 8, bottom: H - 26 };

/** A "nice" top for the axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceTop(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function barChart(opts: { id: string; title: string; desc: string; unit: string; points: ChartPoint[]; format?: (n: number) => string }): BarChart {
  const fmt = opts.format ?? ((n: number) => String(n));
  const values = opts.points.map((p) => p.value ?? 0);
  const top = niceTop(Math.max(0, ...values));
  const n = Math.max(1, opts.points.length);
  const slot = (PLOT.right - PLOT.left) / n;
  const bars = opts.points.map((p, i) => {
    const v = p.value ?? 0;
    const h = Math.round(((PLOT.bottom - PLOT.top) * v) / top);
    const x = Math.round(PLOT.left + i * slot + slot * 0.15);
    return {
      x, y: PLOT.bottom - h, w: Math.max(1, Math.round(slot * 0.7)), h, label: p.label, text: p.text,
      // Every 6th hour, and the last, get an axis label (24 labels would overlap).
      showLabel: i % 6 === 0 || i === n - 1, labelX: Math.round(PLOT.left + i * slot + slot / 2), labelY: H - 8,
    };
  });
  return {
    id: opts.id, title: opts.title, desc: opts.desc, unit: opts.unit, width: W, height: H, plot: PLOT,
    max: top, maxText: fmt(top), bars, points: opts.points, empty: values.every((v) => v === 0),
  };
}
