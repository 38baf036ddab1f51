import type { ImageScore } from './score.js';
import { type ReferenceScores, referenceShare, SCORE_KINDS } from './score-kinds.js';

/**
 * An inline SVG per image: for each score kind, the histogram of the in-distribution reference
 * scores with the image's score as a red line, and the share of the reference that is at least
 * as anomalous. The axis spans the reference and the image, so an image far outside shows as a
 * line far from the bars.
 */

const SVG = 'http://www.w3.org/2000/svg';
const BINS = 32;
const LABEL = 44;
const PLOT = 180;
const SHARE = 70;
const ROW = 24;

function node<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

const SHORT_LABELS = { bitsPerDim: 'bpd', finalScaleBitsPerDim: 'final', likelihoodRatio: 'ratio' };

export function distributionPlot(reference: ReferenceScores, score: ImageScore): SVGSVGElement {
  const width = LABEL + PLOT + SHARE;
  const svg = node('svg', {
    width,
    height: ROW * SCORE_KINDS.length,
    viewBox: `0 0 ${width} ${ROW * SCORE_KINDS.length}`,
    role: 'img',
    class: 'distribution',
  });
  SCORE_KINDS.forEach((kind, row) => {
    const values = reference.scores[kind.key];
    const value = kind.of(score);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (Number.isFinite(value)) {
      lo = Math.min(lo, value);
      hi = Math.max(hi, value);
    }
    const span = hi - lo || 1;
    const counts = new Array<number>(BINS).fill(0);
    for (const v of values) counts[Math.min(BINS - 1, Math.floor(((v - lo) / span) * BINS))]!++;
    const tallest = Math.max(...counts);
    const top = row * ROW + 3;
    const height = ROW - 8;
    const g = node('g', { 'data-kind': kind.key });
    g.append(node('text', { x: 0, y: top + height - 2, 'font-size': 11 }, SHORT_LABELS[kind.key]));
    counts.forEach((count, b) => {
      const h = (count / tallest) * height;
      g.append(
        node('rect', {
          x: LABEL + (b * PLOT) / BINS,
          y: top + height - h,
          width: PLOT / BINS - 0.5,
          height: h,
          fill: '#9ab',
        }),
      );
    });
    g.append(
      node('line', {
        x1: LABEL,
        x2: LABEL + PLOT,
        y1: top + height + 0.5,
        y2: top + height + 0.5,
        stroke: '#667',
      }),
    );
    const share = referenceShare(values, value, kind.direction);
    if (Number.isFinite(value)) {
      const x = LABEL + ((value - lo) / span) * PLOT;
      g.append(
        node('line', {
          x1: x,
          x2: x,
          y1: top - 2,
          y2: top + height + 3,
          stroke: '#d22',
          'stroke-width': 2,
        }),
      );
    }
    g.append(
      node(
        'text',
        { x: LABEL + PLOT + 6, y: top + height - 2, 'font-size': 11 },
        `${(share * 100).toFixed(1)} %`,
      ),
    );
    g.append(
      node(
        'title',
        {},
        `${kind.label}: ${value.toFixed(4)}; ${(share * 100).toFixed(1)} % of ${values.length} in-distribution images score as anomalous or more`,
      ),
    );
    svg.append(g);
  });
  return svg;
}
