import { writeFileAtomic } from '../util/atomic-write.js';
import type { DatasetOutputs } from './score-dataset.js';

/** Per-example values as named columns, in dataset order. */
export interface ScoreColumns {
  names: string[];
  columns: ArrayLike<number>[];
}

/**
 * The per-example columns of `hierglow score`: `index`, `label` (when the data has labels),
 * `predicted_class` (class-conditional models: argmax_c log p(x|c), −1 if not finite), `log_p` (nats), `bpd`, `lp_0`…`lp_{L−1}` (per-scale, finest first), `final_scale`, then with a
 * general model `general_log_p`, `general_bpd`, `general_lp_k`, `ratio` (= log_p − general_log_p)
 * and `ratio_lp_k`, with a background model `background_log_p` and `background_ratio`, and last `png_bpd` (Serrà complexity) and `s_score` (bpd − png_bpd, Serrà's
 * S: higher = more anomalous, their convention).
 */
export function scoreColumns(o: DatasetOutputs): ScoreColumns {
  const names: string[] = ['index'];
  const columns: ArrayLike<number>[] = [Float64Array.from({ length: o.count }, (_, i) => i)];
  const add = (name: string, values: ArrayLike<number>) => {
    names.push(name);
    columns.push(values);
  };
  if (o.labels) add('label', o.labels);
  const m = o.model;
  if (m.predictedClass) add('predicted_class', m.predictedClass);
  add('log_p', m.logP);
  add('bpd', m.bitsPerDim);
  for (const [k, v] of m.perScale.entries()) add(`lp_${k}`, v);
  add('final_scale', m.perScale[m.perScale.length - 1]!);
  const g = o.general;
  if (g) {
    add('general_log_p', g.logP);
    add('general_bpd', g.bitsPerDim);
    for (const [k, v] of g.perScale.entries()) add(`general_lp_${k}`, v);
    add(
      'ratio',
      m.logP.map((v, i) => v - g.logP[i]!),
    );
    if (g.perScale.length === m.perScale.length) {
      for (const [k, v] of m.perScale.entries()) {
        add(
          `ratio_lp_${k}`,
          v.map((x, i) => x - g.perScale[k]![i]!),
        );
      }
    }
  }
  const bg = o.background;
  if (bg) {
    add('background_log_p', bg.logP);
    add(
      'background_ratio',
      m.logP.map((v, i) => v - bg.logP[i]!),
    );
  }
  add('png_bpd', o.complexity);
  add(
    's_score',
    m.bitsPerDim.map((b, i) => b - o.complexity[i]!),
  );
  return { names, columns };
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (!Number.isFinite(v)) return String(v); // NaN, Infinity, -Infinity
  return String(Number(v.toPrecision(9)));
}

/** CSV text with a header line; non-finite values are written as NaN / Infinity / -Infinity. */
export function scoresToCsv(s: ScoreColumns): string {
  const rows = [s.names.join(',')];
  const n = s.columns[0]?.length ?? 0;
  for (let i = 0; i < n; i++) rows.push(s.columns.map((c) => formatValue(c[i]!)).join(','));
  return `${rows.join('\n')}\n`;
}

/** JSON text: an array with one object per example; non-finite values become null. */
export function scoresToJson(s: ScoreColumns): string {
  const n = s.columns[0]?.length ?? 0;
  const rows: Record<string, number | null>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, number | null> = {};
    s.names.forEach((name, j) => {
      const v = s.columns[j]![i]!;
      row[name] = Number.isFinite(v) ? Number(v.toPrecision(9)) : null;
    });
    rows.push(row);
  }
  return `${JSON.stringify(rows)}\n`;
}

/** The text of a scores file at `path`: JSON when it ends in `.json`, else CSV. */
export function scoresFileText(path: string, s: ScoreColumns): string {
  return path.toLowerCase().endsWith('.json') ? scoresToJson(s) : scoresToCsv(s);
}

/** Writes the scores to `path` atomically (see {@link scoresFileText}). */
export async function writeScores(path: string, s: ScoreColumns): Promise<void> {
  await writeFileAtomic(path, scoresFileText(path, s));
}
