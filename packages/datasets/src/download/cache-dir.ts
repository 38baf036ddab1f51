import { homedir } from 'node:os';
import { join } from 'node:path';

/** Environment variables by name, as `process.env` holds them. */
export type EnvironmentVariables = Readonly<Record<string, string | undefined>>;

/** Environment variable that overrides the dataset cache folder. */
export const DATA_DIR_ENV_VAR = 'HIERGLOW_DATA_DIR';

/**
 * The default cache folder for downloaded datasets: `$HIERGLOW_DATA_DIR`, else
 * `$XDG_CACHE_HOME/hierglow/datasets`, else `~/.cache/hierglow/datasets`.
 */
export function defaultCacheDir(env: EnvironmentVariables = process.env): string {
  if (env[DATA_DIR_ENV_VAR]) return env[DATA_DIR_ENV_VAR]!;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'hierglow', 'datasets');
}
