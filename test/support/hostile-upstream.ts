import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../../local/http-kit';

/**
 * A tiny upstream on 127.0.0.1 that misbehaves on purpose, chosen by the first path segment:
 *
 * - `/big/...`: 200 `application/json` announcing and sending 50 MB: a valid answer (a token, or a
 *   ticket for `/oem/setup`) followed by whitespace, which JSON allows;
 * - `/endless/...`: 200 `application/json`, chunked, never ending (until the client goes away);
 * - `/html404/...`: 404 `text/html`, as a web server answers a wrong path;
 * - `/hang/...`: reads the request and never answers (a black hole at the HTTP level);
 * - `/setup-<mode>/auth/proxy/m2m/token`: a good Astrato m2m token, so that the following
 *   `/setup-<mode>/oem/setup` gets the misbehaving answer `<mode>`.
 *
 * Writes honour backpressure, so the server sends only as fast as the client reads. An endless
 * answer stops after {@link ENDLESS_SAFETY_STOP} bytes: a broker without a cap cannot take the
 * machine down while this test shows that it has none.
 */
export const BIG_BYTES = 50 * 1024 * 1024;
export const ENDLESS_SAFETY_STOP = 1024 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x20);

export interface HostileUpstream {
  readonly url: string;
  /** Bytes written per mode, as the server counted them (what reached the socket's buffers). */
  readonly written: Record<string, number>;
  /** Requests received per path. */
  readonly hits: Record<string, number>;
  stop(): Promise<void>;
}

async function stream(
  res: ServerResponse,
  head: string,
  total: number,
  count: (bytes: number) => void,
): Promise<void> {
  res.write(head);
  count(Buffer.byteLength(head));
  let sent = Buffer.byteLength(head);
  while (sent < total && !res.destroyed) {
    const chunk = total - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - sent);
    sent += chunk.length;
    count(chunk.length);
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!res.destroyed) res.end();
}

export async function startHostileUpstream(): Promise<HostileUpstream> {
  const written: Record<string, number> = {};
  const count = (mode: string) => (bytes: number) => {
    written[mode] = (written[mode] ?? 0) + bytes;
  };
  const hits: Record<string, number> = {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    hits[path] = (hits[path] ?? 0) + 1;
    const [, first = '', ...rest] = path.split('/');
    const setup = /^setup-(.+)$/.exec(first);
    if (setup && rest.join('/') === 'auth/proxy/m2m/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'hostile-upstream-m2m-token', expires_in: 600 }));
      return;
    }
    const mode = setup?.[1] ?? first;
    const valid = path.endsWith('/oem/setup')
      ? '{"ticket":"hostile-upstream-ticket"}'
      : '{"access_token":"hostile-upstream-token","token_type":"Bearer","expires_in":600}';
    if (mode === 'hang') return; // never answers; stop() destroys the socket
    if (mode === 'big') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BIG_BYTES) });
      void stream(res, valid, BIG_BYTES, count(mode));
    } else if (mode === 'endless') {
      res.writeHead(200, { 'content-type': 'application/json' });
      void stream(res, '{"access_token":"', ENDLESS_SAFETY_STOP, count(mode));
    } else {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>');
    }
  });
  const { url, stop } = await listenOnLoopback(server);
  return { url, written, hits, stop };
}
