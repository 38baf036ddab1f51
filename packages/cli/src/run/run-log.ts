import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CommandIO } from '../command.js';

/**
 * The log of a run: every line goes to stderr (what the user watches) and, with a timestamp,
 * to the run folder's `log.txt` (what survives the terminal). Appends synchronously, so the
 * last line before a crash is on disk.
 */
export class RunLog {
  constructor(
    private readonly path: string,
    private readonly io: Pick<CommandIO, 'err'>,
  ) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** A line for both the user and the log file. */
  line(message: string): void {
    this.io.err(message);
    this.fileOnly(message);
  }

  /** A line for the log file only (progress lines the terminal shows as a redrawn bar). */
  fileOnly(message: string): void {
    appendFileSync(this.path, `[${new Date().toISOString()}] ${message}\n`);
  }
}
