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
  {
    min = -Infinity,
    max = Infinity,
    integer = false,
  }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : '']
      .filter(Boolean)
      .join(' and ');
    throw new UsageError(
      `--${name} must be ${integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}, got '${raw}'`,
    );
  }
  return n;
}

/** Reads a string flag; `undefined` when absent and no fallback is given. */
export function stringFlag(values: Record<string, unknown>, name: string): string | undefined;
export function stringFlag(values: Record<string, unknown>, name: string, fallback: string): string;
export function stringFlag(
  values: Record<string, unknown>,
  name: string,
  fallback?: string,
): string | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new UsageError(`--${name} must be a single value, got ${JSON.stringify(raw)}`);
  }
  return String(raw);
}

/** Reads a string flag that must be given, with an error that says which command needs it. */
export function requiredStringFlag(
  values: Record<string, unknown>,
  name: string,
  command: string,
  what: string,
): string {
  const v = stringFlag(values, name);
  if (v === undefined || v === '') {
    throw new UsageError(`${command} needs --${name} ${what}. See 'hierglow ${command} --help'.`);
  }
  return v;
}

/** Reads a flag whose value must be one of `allowed`. */
export function choiceFlag<T extends string>(
  values: Record<string, unknown>,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const v = stringFlag(values, name);
  if (v === undefined) return fallback;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  }
  return v as T;
}

/** Reads a boolean flag (a YAML/JSON config may give true/false or "true"/"false"). */
export function booleanFlag(values: Record<string, unknown>, name: string): boolean {
  const v = values[name];
  if (v === undefined || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  throw new UsageError(`--${name} is a switch (true or false), got ${JSON.stringify(v)}`);
}
