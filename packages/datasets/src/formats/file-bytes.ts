import { promisify } from 'node:util';
import { inflate } from 'node:zlib';
import { CorruptDatasetError } from '../errors.js';

const inflateAsync = promisify(inflate);

/** Decompressed output is capped so a corrupt or hostile file cannot exhaust memory. */
export const MAX_INFLATED_BYTES = 2 ** 32 - 1;

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates a zlib stream; corrupt input becomes a {@link CorruptDatasetError} naming `what`. */
export async function inflateZlib(what: string, bytes: Uint8Array): Promise<Uint8Array> {
  try {
    return await inflateAsync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (e) {
    throw new CorruptDatasetError(
      `${what}: compressed data is corrupt or truncated (${(e as Error).message})`,
      {
        cause: e,
      },
    );
  }
}
