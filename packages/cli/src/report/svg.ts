/**
 * Small, dependency-free SVG charts for the HTML report: histograms, line charts and grouped
 * bars. Every chart is a self-contained `<svg>` string with its own axes and legend.
 */

/** Colours that stay distinct for up to 10 series (Tableau 10). */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/** The colour of series `i`. */
export function colour(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Escapes text for SVG/HTML. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const W = 360;
const H = 230;
const M = { left: 52, right: 12, top: 26, bottom: 40 };

interface Frame {
  x(v: number): number;
  y(v: number): number;
  parts: string[];
}

/** Round tick values for [lo, hi] (about `count` of them). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** Axes, ticks, labels and title; returns the coordinate maps. */
function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  [x0, x1]: [number, number],
  [y0, y1]: [number, number],
  xTicks = true,
): Frame {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + ((v - x0) / (x1 - x0 || 1)) * pw;
  const y = (v: number) => M.top + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#999"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(12 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(yLabel)}</text>`,
  ];
  for (const t of xTicks ? niceTicks(x0, x1) : []) {
    const px = x(t).toFixed(1);
    parts.push(
      `<line x1="${px}" x2="${px}" y1="${M.top + ph}" y2="${M.top + ph + 4}" stroke="#666"/>`,
      `<text x="${px}" y="${M.top + ph + 15}" text-anchor="middle" font-size="10">${formatTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1, 4)) {
    const py = y(t).toFixed(1);
    parts.push(
      `<line x1="${M.left - 4}" x2="${M.left}" y1="${py}" y2="${py}" stroke="#666"/>`,
      `<line x1="${M.left}" x2="${M.left + pw}" y1="${py}" y2="${py}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${Number(py) + 3}" text-anchor="end" font-size="10">${formatTick(t)}</text>`,
    );
  }
  return { x, y, parts };
}

/** Where a legend sits inside the plot area. */
export type LegendPosition = 'top-right' | 'top-left' | 'bottom-right';

function legend(names: string[], position: LegendPosition = 'top-right', firstColour = 0): string {
  const plotBottom = H - M.bottom;
  return names
    .map((n, i) => {
      const y =
        position === 'bottom-right'
          ? plotBottom - 6 - (names.length - 1 - i) * 13
          : M.top + 8 + i * 13;
      const x = position === 'top-left' ? M.left + 8 : W - M.right - 110;
      return `<rect x="${x - 2}" y="${y - 9}" width="112" height="13" fill="#fff" fill-opacity="0.75"/><rect x="${x}" y="${y - 7}" width="10" height="8" fill="${colour(i + firstColour)}"/><text x="${x + 14}" y="${y}" font-size="10">${escapeXml(n)}</text>`;
    })
    .join('');
}

function svg(parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/** Quantile of ascending sorted values (linear interpolation). */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** One series of values to histogram. */
export interface HistogramSeries {
  name: string;
  values: ArrayLike<number>;
}

/**
 * Overlaid density histograms (step outlines), one per series. The x range is the pooled 0.5 %
 * to 99.5 % quantiles, so a few extreme values do not squash the plot; values outside it and
 * non-finite values are counted in the subtitle.
 */
export function histogramSvg(
  series: HistogramSeries[],
  title: string,
  xLabel: string,
  bins = 40,
): string {
  const pooled = Float64Array.from(
    series.flatMap((s) => Array.from(s.values).filter(Number.isFinite)),
  ).sort();
  if (pooled.length === 0)
    return svg([`<text x="20" y="40" font-size="12">${escapeXml(title)}: no finite values</text>`]);
  // Robust range: the central 96 % of the pooled values, widened by a quarter on each side
  // (heavy tails, e.g. a few images with log p far below the rest, would squash everything).
  const q02 = quantile(pooled, 0.02);
  const q98 = quantile(pooled, 0.98);
  let lo = Math.max(pooled[0]!, q02 - 0.25 * (q98 - q02));
  let hi = Math.min(pooled[pooled.length - 1]!, q98 + 0.25 * (q98 - q02));
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  let outside = 0;
  const densities = series.map((s) => {
    const counts = new Float64Array(bins);
    let n = 0;
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i]!;
      n++;
      if (!Number.isFinite(v) || v < lo || v > hi) {
        outside++;
        continue;
      }
      counts[Math.min(bins - 1, Math.floor((v - lo) / width))]! += 1;
    }
    return counts.map((c) => c / Math.max(1, n) / width);
  });
  const ymax = Math.max(...densities.flatMap((d) => Array.from(d))) * 1.05 || 1;
  const f = frame(title, xLabel, 'density', [lo, hi], [0, ymax]);
  densities.forEach((d, i) => {
    let path = `M${f.x(lo).toFixed(1)},${f.y(0).toFixed(1)}`;
    d.forEach((v, b) => {
      path += `L${f.x(lo + b * width).toFixed(1)},${f.y(v).toFixed(1)}L${f.x(lo + (b + 1) * width).toFixed(1)},${f.y(v).toFixed(1)}`;
    });
    path += `L${f.x(hi).toFixed(1)},${f.y(0).toFixed(1)}`;
    f.parts.push(
      `<path d="${path}" fill="${colour(i)}" fill-opacity="0.15" stroke="${colour(i)}" stroke-width="1.5"/>`,
    );
  });
  if (outside > 0) {
    f.parts.push(
      `<text x="${M.left + 4}" y="${M.top + 11}" font-size="9" fill="#666">${outside} outside the x range</text>`,
    );
  }
  f.parts.push(legend(series.map((s) => s.name)));
  return svg(f.parts);
}

/** One line of a line chart. */
export interface LineSeries {
  name: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  /** Draw points only (e.g. per-epoch evaluations). */
  markers?: boolean;
}

/** Line chart; `diagonal` adds the chance line of a ROC plot; ranges default to the data's. */
export function lineChartSvg(
  series: LineSeries[],
  options: {
    title: string;
    xLabel: string;
    yLabel: string;
    xRange?: [number, number];
    yRange?: [number, number];
    diagonal?: boolean;
    legend?: LegendPosition;
    /** Colour index of the first series (to match another chart's colours). */
    firstColour?: number;
  },
): string {
  const finite = (a: ArrayLike<number>) => Array.from(a).filter(Number.isFinite);
  const allX = series.flatMap((s) => finite(s.xs));
  const allY = series.flatMap((s) => finite(s.ys));
  const range = (vals: number[]): [number, number] => {
    if (vals.length === 0) return [0, 1];
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    if (!(hi > lo)) {
      lo -= 0.5;
      hi += 0.5;
    }
    return [lo, hi];
  };
  const xr = options.xRange ?? range(allX);
  const yr = options.yRange ?? range(allY);
  const f = frame(options.title, options.xLabel, options.yLabel, xr, yr);
  if (options.diagonal) {
    f.parts.push(
      `<line x1="${f.x(xr[0])}" y1="${f.y(yr[0])}" x2="${f.x(xr[1])}" y2="${f.y(yr[1])}" stroke="#bbb" stroke-dasharray="4 3"/>`,
    );
  }
  const first = options.firstColour ?? 0;
  series.forEach((s, i) => {
    const c = colour(i + first);
    const pts: string[] = [];
    for (let k = 0; k < s.xs.length; k++) {
      const xv = s.xs[k]!;
      const yv = s.ys[k]!;
      if (Number.isFinite(xv) && Number.isFinite(yv))
        pts.push(`${f.x(xv).toFixed(1)},${f.y(yv).toFixed(1)}`);
    }
    if (s.markers) {
      for (const p of pts) {
        const [px, py] = p.split(',');
        f.parts.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${c}"/>`);
      }
    } else if (pts.length > 0) {
      f.parts.push(
        `<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="1.5"/>`,
      );
    }
  });
  f.parts.push(
    legend(
      series.map((s) => s.name),
      options.legend,
      first,
    ),
  );
  return svg(f.parts);
}

/** Grouped bars: one group per category, one bar per series. */
export function groupedBarsSvg(
  categories: string[],
  series: { name: string; values: number[] }[],
  options: { title: string; yLabel: string },
): string {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = Math.min(0, ...all);
  const hi = Math.max(0, ...all) * 1.1 || 1;
  const f = frame(options.title, '', options.yLabel, [0, categories.length], [lo, hi], false);
  const pw = W - M.left - M.right;
  const group = pw / categories.length;
  const bar = (group * 0.8) / Math.max(1, series.length);
  categories.forEach((c, ci) => {
    const gx = M.left + ci * group + group * 0.1;
    f.parts.push(
      `<text x="${(gx + group * 0.4).toFixed(1)}" y="${H - M.bottom + 28}" text-anchor="middle" font-size="10">${escapeXml(c)}</text>`,
    );
    series.forEach((s, si) => {
      const v = s.values[ci]!;
      if (!Number.isFinite(v)) return;
      const y0 = f.y(0);
      const y1 = f.y(v);
      f.parts.push(
        `<rect x="${(gx + si * bar).toFixed(1)}" y="${Math.min(y0, y1).toFixed(1)}" width="${(bar * 0.95).toFixed(1)}" height="${Math.abs(y1 - y0).toFixed(1)}" fill="${colour(si)}"/>`,
      );
    });
  });
  f.parts.push(legend(series.map((s) => s.name)));
  return svg(f.parts);
}
