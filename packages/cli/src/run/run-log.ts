import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CommandIO } from '../command.js';
import { withPath } from '../util/errors.js';
import { makeFolder } from '../util/output-folder.js';

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
    makeFolder('', dirname(path));
  }

  /** A line for both the user and the log file. */
  line(message: string): void {
    this.io.err(message);
    this.fileOnly(message);
  }

  /** A line for the log file only (progress lines the terminal shows as a redrawn bar). */
  fileOnly(message: string): void {
    try {
      appendFileSync(this.path, `[${new Date().toISOString()}] ${message}\n`);
    } catch (e) {
      throw withPath(e, this.path);
    }
  }
}
