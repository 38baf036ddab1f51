import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Flags every command accepts. */
export const COMMON_OPTIONS = {
  backend: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

/**
 * Parses a command's flags; `--config FILE` (JSON or YAML) supplies defaults that flags override.
 * Keys in the file use the flags' names (`outlier-weight: 6000`).
 */
export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  argv: string[],
  options: O,
): { values: Record<string, unknown>; positionals: string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}. See 'hierglow ${command} --help'.`);
  }
  const values: Record<string, unknown> = { ...parsed.values };
  if (typeof values.config === 'string') {
    const fromFile = readConfigFile(values.config);
    for (const [k, v] of Object.entries(fromFile)) {
      if (!(k in options) && !(k in COMMON_OPTIONS)) {
        throw new UsageError(`${values.config}: unknown setting '${k}' for 'hierglow ${command}'`);
      }
      if (!(k in parsed.values)) values[k] = typeof v === 'number' ? String(v) : v;
    }
  }
  return { values, positionals: parsed.positionals };
}

/** Reads a JSON or YAML config file into a flat object, with errors that name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  let data: unknown;
  try {
    data = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(
      `config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`,
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`config file ${path} must contain a mapping of setting names to values`);
  }
  return data as Record<string, unknown>;
}

/** Reads a numeric flag, with an error naming the flag when it is not a number in range. */
export function numberFlag(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  { min = -Infinity, integer = false }: { min?: number; integer?: boolean } = {},
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}, got '${raw}'`,
    );
  }
  return n;
}
