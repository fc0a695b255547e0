import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * A fetch-shaped client over node:http/https with keep-alive agents, for upstream calls.
 *
 * Why not the global fetch: on a warm ticket the setup call is the only I/O, and undici's fetch
 * (WHATWG streams, Request/Response objects) measured about 11% of the broker's CPU per ticket
 * under load (`npm run bench`, CPU profile); this does the same job for a fraction. It supports
 * what our upstream calls use: string, URLSearchParams or Uint8Array bodies, headers, and an
 * AbortSignal; it returns a real `Response`, so oauth4webapi's processing works unchanged.
 */
const agents = {
  http: new HttpAgent({ keepAlive: true, maxSockets: 64, timeout: 60_000 }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: 64, timeout: 60_000 }),
};

function bodyOf(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError('unsupported request body type for an upstream call');
}

function headersOf(init: RequestInit['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  new Headers(init).forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

export function nodeFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const url = typeof input === 'string' ? new URL(input) : input;
  const body = bodyOf(init.body);
  const headers = headersOf(init.headers);
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  const secure = url.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const { signal } = init;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const req = send(url, {
      method: init.method ?? 'GET',
      headers,
      agent: secure ? agents.https : agents.http,
    });
    const abort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', abort, { once: true });
    req.on('error', (error) => {
      signal?.removeEventListener('abort', abort);
      reject(Object.assign(new TypeError('fetch failed'), { cause: error }));
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => reject(Object.assign(new TypeError('fetch failed'), { cause: error })));
      res.on('end', () => {
        signal?.removeEventListener('abort', abort);
        const responseHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          responseHeaders.append(res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '');
        }
        const status = res.statusCode ?? 0;
        const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(
          new Response(payload, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }),
        );
      });
    });
    req.end(body);
  });
}
