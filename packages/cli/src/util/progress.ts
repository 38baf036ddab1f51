/**
 * A progress line for long work: `label [#####.....] 42/100 12.3 img/s ETA 1m05s`.
 * On a TTY it redraws one line; elsewhere (logs, CI) it prints at most one line every
 * `minIntervalMs` so log files stay readable.
 */
/** What a progress line is written to: a terminal redraws the line in place. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  total: number;
  label: string;
  unit?: string;
  /** Default `process.stderr`. */
  stream?: ProgressStream;
  minIntervalMs?: number;
}

export class ProgressBar {
  private readonly start = Date.now();
  private lastDraw = 0;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  /** Reports `done` units finished; `rate` overrides the measured units/s (e.g. images/s). */
  update(done: number, extra = '', rate?: number): void {
    const now = Date.now();
    const interval = this.options.minIntervalMs ?? (this.tty ? 100 : 10_000);
    if (done < this.options.total && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const line = this.format(done, extra, rate, now);
    if (this.tty) this.stream.write(`\r${line}\u001b[K`);
    else this.stream.write(`${line}\n`);
  }

  /** Ends the bar (newline on a TTY). */
  finish(): void {
    if (this.tty) this.stream.write('\n');
  }

  format(done: number, extra: string, rate: number | undefined, now = Date.now()): string {
    const { total, label, unit = 'it' } = this.options;
    const elapsed = (now - this.start) / 1000;
    const perSec = rate ?? (elapsed > 0 ? done / elapsed : 0);
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const eta = perSec > 0 && total > done ? formatDuration((total - done) / perSec) : '--';
    return `${label} [${bar}] ${done}/${total} ${perSec.toFixed(1)} ${unit}/s ETA ${eta}${extra ? ` ${extra}` : ''}`;
  }
}

/** 75 → "1m15s", 3725 → "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
