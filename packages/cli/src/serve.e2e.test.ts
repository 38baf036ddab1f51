import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError } from './test-support/expect-cli.js';
import { type CliResult, runCli, startCli } from './test-support/run-cli.js';

/**
 * `hierglow serve` as a user runs it: the built binary on a free port (--port 0), real HTTP
 * requests against a temporary folder, Ctrl-C (SIGINT) to stop.
 */

let work: string;
let site: string;
let base: string;
let stop: () => Promise<CliResult>;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: `fetch` would normalise `..` and `%2e%2e` away before sending. */
function get(path: string, method = 'GET'): Promise<Reply> {
  const url = new URL(base);
  return new Promise((done, fail) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => done({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hierglow-serve-'));
  site = join(work, 'site');
  await mkdir(join(site, 'assets'), { recursive: true });
  await mkdir(join(site, 'models', 'fashion'), { recursive: true });
  await writeFile(join(site, 'index.html'), '<!doctype html><title>page</title>');
  await writeFile(join(site, 'assets', 'main.js'), 'console.log(1);');
  await writeFile(join(site, 'assets', 'kernels.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
  await writeFile(join(site, 'models', 'fashion', 'config.json'), '{"format":1}');
  await writeFile(join(site, 'models', 'fashion', 'model.safetensors'), Buffer.alloc(16, 7));
  await writeFile(join(site, '.env'), 'hidden');
  await writeFile(join(work, 'secret.txt'), 'outside the served folder');
  await symlink(join(work, 'secret.txt'), join(site, 'link.txt'));
  const started = startCli(['serve', '--port', '0', '--dir', site], work);
  let stdout = '';
  base = await new Promise<string>((found, fail) => {
    started.child.stdout!.on('data', (d) => {
      stdout += d;
      const url = /^(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)?.[1];
      if (url) found(url);
    });
    started.done.then((r) => fail(new Error(`serve exited: ${r.stderr}`)));
  });
  stop = async () => {
    started.child.kill('SIGINT');
    return started.done;
  };
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('hierglow serve', () => {
  it('serves files with their content types and the cross-origin isolation headers', async () => {
    const cases: [string, string, string][] = [
      ['/', 'text/html; charset=utf-8', '<!doctype html><title>page</title>'],
      ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>page</title>'],
      ['/assets/main.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
      ['/assets/kernels.wasm', 'application/wasm', '\0asm\u0001\0\0\0'],
      ['/models/fashion/config.json', 'application/json; charset=utf-8', '{"format":1}'],
      ['/models/fashion/model.safetensors', 'application/octet-stream', '\u0007'.repeat(16)],
    ];
    for (const [path, type, body] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type'], path).toBe(type);
      expect(r.headers['cross-origin-opener-policy'], path).toBe('same-origin');
      expect(r.headers['cross-origin-embedder-policy'], path).toBe('require-corp');
      expect(r.headers['content-length'], path).toBe(String(Buffer.byteLength(body, 'latin1')));
      expect(r.body, path).toBe(body);
    }
    const head = await get('/assets/main.js', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('15');
    expect(head.body).toBe('');
  });

  it('never reads outside the folder: .., encoded .., symbolic links, hidden files', async () => {
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/link.txt',
      '/.env',
      '/index.html%00.js',
      '/%E0%A4%A',
      '/missing.js',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain('outside the served folder');
      // Errors keep the page isolated too.
      expect(r.headers['cross-origin-embedder-policy'], path).toBe('require-corp');
    }
  });

  it('redirects a folder to its trailing slash, and refuses other methods', async () => {
    const r = await get('/models/fashion');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('/models/fashion/');
    expect((await get('/models/fashion/')).status).toBe(404); // no index.html there
    const post = await get('/index.html', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('stops on Ctrl-C', async () => {
    const r = await stop();
    expect(r.stderr).toMatch(/serving .*site \(cross-origin isolated\); Ctrl-C stops/);
    expect(r.code).toBe(130);
  });

  it('says in one line how to build the page when the folder holds none', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty);
    expectOneLineError(
      await runCli(['serve', '--port', '0', '--dir', empty], work),
      1,
      /^hierglow: --dir .*empty: no index\.html in this folder; the page is not built: run 'npm run browser-app:build'/,
    );
    expectOneLineError(
      await runCli(['serve', '--dir', join(work, 'nowhere')], work),
      1,
      /^hierglow: --dir .*nowhere: no such folder; the page is not built/,
    );
    expectOneLineError(
      await runCli(['serve', '--port', '70000', '--dir', site], work),
      2,
      /^hierglow: --port must be an integer >= 0 and <= 65535, got '70000'/,
    );
  });

  it('names the port when it is taken', async () => {
    const first = startCli(['serve', '--port', '0', '--dir', site], work);
    const url = await new Promise<string>((found) => {
      let out = '';
      first.child.stdout!.on('data', (d) => {
        out += d;
        const m = /^http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(out);
        if (m) found(m[1]!);
      });
    });
    try {
      expectOneLineError(
        await runCli(['serve', '--port', url, '--dir', site], work),
        1,
        new RegExp(`^hierglow: --port ${url}: the port is in use on 127\\.0\\.0\\.1; pick another`),
      );
    } finally {
      first.child.kill('SIGINT');
      await first.done;
    }
  });
});
