import { createReadStream, existsSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.js';
import { numberFlag, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';

/**
 * Where the browser page (examples/browser-app in the repository) is built to: inside this
 * package, so that the CLI finds it without importing the examples. It is a build output of the
 * repository, not published (the package's contents must not depend on whether someone built
 * the page); an installed CLI serves a page built elsewhere with --dir. From
 * dist/commands/serve.js that is ../../browser-app.
 */
export const BROWSER_APP_DIR = fileURLToPath(new URL('../../browser-app/', import.meta.url));

/** The command that builds the page into {@link BROWSER_APP_DIR}. */
export const BROWSER_APP_BUILD_COMMAND = 'npm run browser-app:build';

/** Vite's preview port: the page's usual address. */
export const DEFAULT_PORT = 4173;

/** Content types by extension; anything else is served as bytes. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.safetensors': 'application/octet-stream',
};

/**
 * The headers that make the page cross-origin isolated (so `SharedArrayBuffer` exists and
 * tfjs-backend-wasm runs its threaded binary), on every response: a worker script needs them
 * too. CORP lets the isolated page load its own files under `require-corp`.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function send(
  res: ServerResponse,
  status: number,
  text: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

/**
 * The file under `root` (a real path) that a request path names, or null: no `..` or hidden
 * segment, no NUL, and after symbolic links still inside `root`, so nothing outside the folder
 * is ever read. A folder gives its index.html.
 */
function fileFor(root: string, pathname: string): { file: string } | { redirect: string } | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  const segments = decoded.split(/[/\\]/);
  if (decoded.includes('\0') || segments.some((s) => s === '..' || s.startsWith('.'))) return null;
  let target = resolve(root, `.${sep}${segments.join(sep)}`);
  if (!existsSync(target)) return null;
  target = realpathSync(target);
  if (target !== root && !target.startsWith(root + sep)) return null;
  if (statSync(target).isDirectory()) {
    // The page's URLs are relative: a folder must be asked for with its trailing slash.
    if (!pathname.endsWith('/')) return { redirect: `${pathname}/` };
    target = resolve(target, 'index.html');
    if (!existsSync(target)) return null;
  }
  return statSync(target).isFile() ? { file: target } : null;
}

/** A static file server for `root` with {@link ISOLATION_HEADERS}; GET and HEAD only. */
export function createStaticServer(root: string): Server {
  const realRoot = realpathSync(root);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const found = fileFor(realRoot, pathname);
    if (found === null) {
      send(res, 404, 'not found\n');
      return;
    }
    if ('redirect' in found) {
      send(res, 301, 'moved\n', { Location: found.redirect });
      return;
    }
    const { size } = statSync(found.file);
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type':
        CONTENT_TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': size,
      'X-Content-Type-Options': 'nosniff',
      // Rebuilding the page replaces its files under the same names (models, demo images).
      'Cache-Control': 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(found.file)
      .on('error', () => res.destroy())
      .pipe(res);
  });
}

/** The folder to serve, checked to hold a page (index.html); one line naming it otherwise. */
export function pageDir(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new UsageError(
      `--dir ${abs}: no such folder; the page is not built: run '${BROWSER_APP_BUILD_COMMAND}' in the hierglow repository, or pass --dir FOLDER of a built page`,
      1,
    );
  }
  if (!existsSync(resolve(abs, 'index.html'))) {
    throw new UsageError(
      `--dir ${abs}: no index.html in this folder; the page is not built: run '${BROWSER_APP_BUILD_COMMAND}' in the hierglow repository, or pass --dir FOLDER of a built page`,
      1,
    );
  }
  return abs;
}

/** `hierglow serve`: the browser page over HTTP, offline, cross-origin isolated. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the browser page that scores images with the Glows (offline, wasm threads)',
  usage: 'hierglow serve [--port N] [--host HOST] [--dir FOLDER]',
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    dir: { type: 'string' },
  },
  noBackend: true,
  help: [
    `  --port N                  (default ${DEFAULT_PORT}); 0 picks a free port`,
    '  --host HOST               address to listen on (default 127.0.0.1; the page is',
    '                            cross-origin isolated, hence threaded, only on localhost or',
    '                            HTTPS, so 0.0.0.0 serves other machines one thread)',
    '  --dir FOLDER              the built page (default: browser-app/ next to this',
    `                            package's dist/, built by '${BROWSER_APP_BUILD_COMMAND}'`,
    '                            in the repository; not published with the package)',
    '',
    'Every response carries Cross-Origin-Opener-Policy: same-origin and',
    'Cross-Origin-Embedder-Policy: require-corp, so the page is cross-origin isolated and',
    'the wasm backend computes on several threads. Prints the URL; Ctrl-C stops.',
  ],
  async run({ values }, io) {
    const port = numberFlag(values, 'port', DEFAULT_PORT, { min: 0, max: 65535, integer: true });
    const host = stringFlag(values, 'host', '127.0.0.1');
    const root = pageDir(stringFlag(values, 'dir') ?? BROWSER_APP_DIR);
    const server = createStaticServer(root);
    await new Promise<void>((done, fail) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        fail(
          e.code === 'EADDRINUSE'
            ? new UsageError(
                `--port ${port}: the port is in use on ${host}; pick another, or --port 0 for a free one`,
                1,
              )
            : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND'
              ? new UsageError(`--host ${host}: not an address of this machine (${e.code})`, 1)
              : e,
        );
      });
      server.listen(port, host, () => done());
    });
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    io.out(`http://${shown}:${address.port}/`);
    io.err(`serving ${root} (cross-origin isolated); Ctrl-C stops`);
    if (!io.signal.aborted) {
      await new Promise((stop) => io.signal.addEventListener('abort', stop, { once: true }));
    }
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
    return 0;
  },
};
