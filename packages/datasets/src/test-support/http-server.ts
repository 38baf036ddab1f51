import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the test server answers for one path. */
export interface Route {
  bytes: Uint8Array;
  /** Close the connection after this many body bytes, on the first `cutTimes` requests. */
  cutAfter?: number;
  cutTimes?: number;
  /** Answer 200 with the whole body even when a Range is asked for. */
  ignoreRange?: boolean;
  status?: number;
  /**
   * Answer without a Content-Length, the body ending when the connection closes (HTTP/1.0
   * style), after `cutAfter` bytes when given: a cut the client cannot tell from the end.
   */
  noLength?: boolean;
  /** Send this many bytes, then nothing more while keeping the connection open. */
  stallAfter?: number;
}

/** A loopback HTTP server with Range support and scripted failures, for download tests. */
export async function startTestServer(routes: Record<string, Route>) {
  const requests: { path: string; range: string | undefined }[] = [];
  const served = new Map<string, number>();
  const stalled: import('node:http').ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, range: req.headers.range });
    const route = routes[path];
    if (!route || route.status) {
      res.writeHead(route?.status ?? 404).end();
      return;
    }
    const n = (served.get(path) ?? 0) + 1;
    served.set(path, n);
    if (route.noLength) {
      const body = route.bytes.subarray(0, route.cutAfter ?? route.bytes.length);
      req.socket.end(
        Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n'), body]),
      );
      return;
    }
    if (route.stallAfter !== undefined) {
      res.writeHead(200, { 'content-length': route.bytes.length });
      res.write(Buffer.from(route.bytes.subarray(0, route.stallAfter)));
      stalled.push(res);
      return;
    }
    const total = route.bytes.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && !route.ignoreRange) {
      start = Number(m[1]);
      if (start >= total) {
        res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-length': total - start,
        'content-range': `bytes ${start}-${total - 1}/${total}`,
      });
    } else {
      res.writeHead(200, { 'content-length': total });
    }
    const body = Buffer.from(route.bytes.subarray(start));
    if (route.cutAfter !== undefined && n <= (route.cutTimes ?? 1)) {
      // The write callback fires once the bytes are with the kernel, not with the client: give
      // the client time to read and store them before the cut (20 ms was too little on a CI
      // machine whose two cores were busy with other test processes: the client had stored
      // nothing, so the resumed request carried no Range header).
      res.write(body.subarray(0, Math.max(0, route.cutAfter - start)), () => {
        setTimeout(() => res.socket?.destroy(), 250);
      });
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    requests,
    close: () => {
      for (const res of stalled) res.socket?.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
