import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Small helpers shared by the local stand-ins (simulators, Secrets Manager). Only `node:http`:
 * the stand-ins must start in milliseconds inside a jest worker and leave nothing behind.
 */

/** A server started on 127.0.0.1. */
export interface LocalServer {
  /** Origin, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Closes the listener and destroys every open socket, keep-alive ones included. */
  stop(): Promise<void>;
}

/**
 * What a request handler gets besides the request: the parsed URL and a signal that aborts when the
 * server stops, so a handler sleeping on injected latency does not outlive the server.
 */
export interface RequestContext {
  readonly url: URL;
  readonly signal: AbortSignal;
}

/** A request handler; what it throws becomes an error response (see {@link startHttpServer}). */
export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
) => Promise<void> | void;

/** An error a handler throws to answer with a given status; anything else becomes a 500. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Starts `handler` on 127.0.0.1 (`port` 0, the default, lets the OS choose). A handler that throws
 * answers 500 (or the {@link HttpError}'s status) with a JSON `{"message"}`.
 */
export async function startHttpServer(handler: Handler, opts: { port?: number } = {}): Promise<LocalServer> {
  const stopping = new AbortController();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    Promise.resolve()
      .then(() => handler(req, res, { url, signal: stopping.signal }))
      .catch((error: unknown) => {
        if (stopping.signal.aborted || res.headersSent || res.destroyed) {
          if (!res.writableEnded) res.destroy();
          return;
        }
        const status = error instanceof HttpError ? error.status : 500;
        const message = error instanceof HttpError ? error.message : 'Internal error in the local stand-in';
        if (!(error instanceof HttpError)) console.error('[local] handler failed:', error);
        sendJson(res, status, { message });
      });
  });
  return listenOnLoopback(server, opts.port, () => stopping.abort());
}

/**
 * Starts `server` on 127.0.0.1 (`port` 0 or absent: one the OS chooses). `stop()` closes the
 * listener and every open socket at once: SDK clients and fetch keep sockets alive, which would
 * otherwise hold `close()` open until they time out.
 */
export async function listenOnLoopback(
  server: Server,
  port = 0,
  beforeStop: () => void = () => {},
): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    stop() {
      stopped ??= new Promise<void>((resolve, reject) => {
        beforeStop();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

/** Reads the whole request body as UTF-8; refuses bodies over `limitBytes` with 413. */
export async function readBody(req: IncomingMessage, limitBytes = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) throw new HttpError(413, 'Request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON, or `undefined` when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sends a complete response. */
export function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

/** Sends `body` as `application/json`. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, JSON.stringify(body), 'application/json', headers);
}

/** Sends an HTML page, UTF-8. */
export function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, html, 'text/html; charset=utf-8', headers);
}

/** 204 with no body (control API acknowledgements). */
export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON for an inline `<script>`: `<` is escaped so a value such as `</script>` cannot end the
 * script element.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Unguessable opaque string: `bytes` random bytes, base64url. Tokens always use the CSPRNG, never `random`. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** The value of a `Bearer` authorization header, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Cookies of a request, by name (first one wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

/** True for http(s) origins on 127.0.0.0/8, `localhost` and `[::1]`: the local stack's own pages. */
export function isLoopbackUrl(url: URL): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** The media type of a request without parameters, lower-cased (`application/json; charset=x` -> `application/json`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
