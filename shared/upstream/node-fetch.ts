import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * Largest upstream answer body read, in bytes. Token, setup and probe answers are a few hundred
 * bytes; 64 KiB is far above any real one, and keeps one hostile or broken upstream (a 50 MB or
 * an endless answer) from growing the function's memory.
 */
export const MAX_UPSTREAM_BODY_BYTES = 64 * 1024;

/** An upstream answer body over the cap: reading stopped there and the socket was destroyed. */
export class UpstreamBodyTooLargeError extends Error {
  override readonly name = 'UpstreamBodyTooLargeError';
  constructor(
    readonly status: number,
    /** What was read before stopping (at most the cap plus one chunk). */
    readonly bytesRead: number,
    /** The `Content-Length` the upstream announced, when it did. */
    readonly declaredBytes: number | undefined,
    readonly limitBytes: number,
  ) {
    super(
      `answer body over ${limitBytes} bytes (${
        declaredBytes !== undefined ? `${declaredBytes} announced, ` : ''
      }${bytesRead} read); stopped reading`,
    );
  }
}

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

/** Request headers as node:http takes them, names lower-cased (repeated names joined, as fetch does). */
function headersOf(init: RequestInit['headers']): Record<string, string> {
  const headers: Record<string, string> = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  };
  if (init === undefined || init === null) return headers;
  if (Array.isArray(init)) for (const [name, value] of init) add(String(name), String(value));
  else if (typeof (init as Headers).forEach === 'function')
    (init as Headers).forEach((value, name) => {
      add(name, value);
    });
  else for (const [name, value] of Object.entries(init as Record<string, string>)) add(name, value);
  return headers;
}

/**
 * An upstream's answer, its body already in memory (at most the cap): what the upstream clients
 * read of it. Not a WHATWG `Response`: building one (and its `Headers`) loads undici, which costs
 * a cold start tens of milliseconds on its first request and a warm ticket CPU every time; only
 * oauth4webapi needs one, and gets it from {@link UpstreamResponse.toResponse}.
 */
export class UpstreamResponse {
  readonly headers: { get(name: string): string | null };

  constructor(
    readonly status: number,
    readonly statusText: string,
    private readonly headerValues: Readonly<Record<string, string>>,
    private readonly payload: Buffer | null,
  ) {
    this.headers = { get: (name) => headerValues[name.toLowerCase()] ?? null };
  }

  /** The body as UTF-8 text (empty when there was none). */
  async text(): Promise<string> {
    return this.payload?.toString('utf8') ?? '';
  }

  /** The body parsed as JSON. @throws SyntaxError when it is not JSON */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /** The same answer as a WHATWG `Response`, for code that takes only that (oauth4webapi). */
  toResponse(): Response {
    const nullBody = this.status === 204 || this.status === 304;
    return new Response(nullBody || this.payload === null ? null : new Uint8Array(this.payload), {
      status: this.status,
      statusText: this.statusText,
      headers: this.headerValues,
    });
  }
}

/**
 * A fetch-shaped call over node:http/https with keep-alive agents, for upstream calls.
 *
 * Why not the global fetch: on a warm ticket the setup call is the only I/O, and undici's fetch
 * (WHATWG streams, Request/Response objects) measured about 11% of the broker's CPU per ticket
 * under load (`npm run bench`, CPU profile). It supports what our upstream calls use: string,
 * URLSearchParams or Uint8Array bodies, headers, and an AbortSignal. The answer body is read into
 * memory up to `maxBodyBytes`; past that (or when `Content-Length` announces more) it rejects with
 * {@link UpstreamBodyTooLargeError} and destroys the socket, so the rest is never read.
 */
export function nodeFetch(
  input: string | URL,
  init: RequestInit = {},
  maxBodyBytes: number = MAX_UPSTREAM_BODY_BYTES,
): Promise<UpstreamResponse> {
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
      const status = res.statusCode ?? 0;
      let refused = false;
      const tooLarge = (bytesRead: number, declared: number | undefined) => {
        if (refused) return;
        refused = true;
        signal?.removeEventListener('abort', abort);
        reject(new UpstreamBodyTooLargeError(status, bytesRead, declared, maxBodyBytes));
        // Never read the rest: the socket goes, not back to the keep-alive pool.
        res.destroy();
        req.destroy();
      };
      const announced = res.headers['content-length'];
      const declared = announced === undefined ? undefined : Number(announced);
      if (declared !== undefined && Number.isFinite(declared) && declared > maxBodyBytes) {
        tooLarge(0, declared);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          tooLarge(size, declared);
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (error) => reject(Object.assign(new TypeError('fetch failed'), { cause: error })));
      res.on('end', () => {
        signal?.removeEventListener('abort', abort);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new UpstreamResponse(status, res.statusMessage ?? '', headers, payload));
      });
    });
    req.end(body);
  });
}
