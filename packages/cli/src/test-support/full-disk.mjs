/**
 * Preload (`node --import`) for the fault tests: makes the disk look full under one folder.
 * Files opened for writing under $HIERGLOW_TEST_FULL_DISK_UNDER through `fs/promises` accept no
 * bytes: their writes fail with ENOSPC, as on a full disk (where, as here, Node's error carries
 * no path). Everything else, the folder's write probe included, works as usual.
 */
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';

const under = process.env.HIERGLOW_TEST_FULL_DISK_UNDER;
if (under) {
  const root = resolve(under);
  const open = fsp.open;
  fsp.open = async (path, flags = 'r', mode) => {
    const handle = await open(path, flags, mode);
    if (resolve(String(path)).startsWith(root) && /[wa+]/.test(String(flags))) {
      const full = async () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
          errno: -28,
          syscall: 'write',
        });
      };
      handle.write = full;
      handle.writeFile = full;
    }
    return handle;
  };
  // ESM imports of node:fs/promises see the patched function too.
  syncBuiltinESMExports();
}
