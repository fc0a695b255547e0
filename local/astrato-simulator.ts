import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counters, type FaultBody, FaultController, reasonPhrase } from './faults';
import {
  bearerToken,
  escapeHtml,
  HttpError,
  isLoopbackUrl,
  isRecord,
  parseCookies,
  parseJson,
  type RequestContext,
  randomToken,
  readBody,
  scriptJson,
  sendHtml,
  sendJson,
  startHttpServer,
} from './http-kit';
import { handleSimControl, UnknownClientError } from './sim-control';

/**
 * Astrato OEM simulator, faithful to docs/design.md "Upstreams" (`astrato-oem`): the m2m token call, `/oem/setup`,
 * the one-time ticket redeemed by a top-level navigation, and a dashboard that tells whether the
 * browser is signed in. Fault injection and the `/__sim/` control API (see sim-control.ts) on top.
 */
export type AstratoEndpoint = 'token' | 'setup' | 'ticket' | 'dashboard';

/** Endpoints as counted and faulted. */
export const ASTRATO_ENDPOINTS: readonly AstratoEndpoint[] = ['token', 'setup', 'ticket', 'dashboard'];

/** Options of {@link startAstratoSimulator}; every one has a default. */
export interface AstratoSimulatorOptions {
  port?: number;
  /** Default: one client, `astrato-client` / `astrato-secret`. */
  clients?: Array<{ clientId: string; clientSecret: string }>;
  /** How long an m2m token really lives. @default 600 (the vendor documents 10 minutes) */
  tokenLifetimeSeconds?: number;
  /**
   * How `expires_in` is written. @default 'epoch-ms', an absolute epoch in milliseconds, as the
   * vendor has been seen to answer (`1699891513107`).
   */
  expiresInFormat?: 'epoch-ms' | 'epoch-s' | 'duration-s' | 'absent';
  /** @default 60 */
  ticketLifetimeSeconds?: number;
  /** Epoch ms. @default Date.now (a test moves it to make tokens and tickets expire) */
  now?: () => number;
  /** Source for fault `errorRate`. @default Math.random */
  random?: () => number;
  /** Origins a redemption may redirect back to with `returnTo`; loopback origins are always allowed. */
  allowedReturnOrigins?: string[];
}

/** A running simulator, with the test hooks. */
export interface AstratoSimulator {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  stop(): Promise<void>;
  counts(): Record<AstratoEndpoint, number>;
  resetCounts(): void;
  faults: FaultController<AstratoEndpoint>;
  /** Every m2m token minted so far stops working. */
  revokeAllTokens(): void;
  /** The old secret is refused from now on; tokens already minted stay valid until they expire. */
  rotateClientSecret(clientId: string, newSecret: string): void;
  /** Users created by `/oem/setup`, in creation order. */
  users(): Array<{ email: string; name?: string }>;
  /** Every access token minted (tests search logs for them). */
  tokensIssued(): string[];
  ticketsIssued(): string[];
}

/** Name of the session cookie set by a ticket redemption. */
export const ASTRATO_SESSION_COOKIE = 'astrato_session';

interface AccessToken {
  clientId: string;
  expiresAt: number;
}

interface Ticket {
  email: string;
  name?: string;
  groupIds: string[];
  expiresAt: number;
  used: boolean;
}

interface Session {
  email: string;
  name?: string;
  groupIds: string[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TICKET_PATH = /^\/auth\/proxy\/oem\/ticket\/([^/]+)(\/embed)?$/;
const UNAUTHORIZED = { message: 'Unauthorized' };

/** Starts the simulator on 127.0.0.1. */
export async function startAstratoSimulator(opts: AstratoSimulatorOptions = {}): Promise<AstratoSimulator> {
  const now = opts.now ?? Date.now;
  const tokenLifetimeMs = (opts.tokenLifetimeSeconds ?? 600) * 1000;
  const ticketLifetimeMs = (opts.ticketLifetimeSeconds ?? 60) * 1000;
  const expiresInFormat = opts.expiresInFormat ?? 'epoch-ms';
  const allowedReturnOrigins = new Set((opts.allowedReturnOrigins ?? []).map((o) => new URL(o).origin));

  const secrets = new Map<string, string>();
  for (const c of opts.clients ?? [{ clientId: 'astrato-client', clientSecret: 'astrato-secret' }]) {
    secrets.set(c.clientId, c.clientSecret);
  }
  const tokens = new Map<string, AccessToken>();
  const tickets = new Map<string, Ticket>();
  const sessions = new Map<string, Session>();
  const users = new Map<string, { email: string; name?: string }>();
  const issuedTokens: string[] = [];
  const issuedTickets: string[] = [];
  const counters = new Counters(ASTRATO_ENDPOINTS);
  const faults = new FaultController(ASTRATO_ENDPOINTS, opts.random);

  const noStore = { 'cache-control': 'no-store' };

  const faultBody = (endpoint: AstratoEndpoint, status: number): FaultBody =>
    endpoint === 'ticket' || endpoint === 'dashboard'
      ? {
          body: page(reasonPhrase(status), `<p>${status} ${reasonPhrase(status)}</p>`),
          contentType: 'text/html',
        }
      : { body: JSON.stringify({ message: reasonPhrase(status) }), contentType: 'application/json' };

  const readJsonBody = async (req: IncomingMessage): Promise<Record<string, unknown> | undefined> => {
    const value = parseJson(await readBody(req, 64 * 1024));
    return isRecord(value) ? value : undefined;
  };

  const validToken = (req: IncomingMessage): AccessToken | undefined => {
    const value = bearerToken(req);
    const token = value === undefined ? undefined : tokens.get(value);
    return token !== undefined && token.expiresAt > now() ? token : undefined;
  };

  const mintToken = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJsonBody(req);
    if (!body || typeof body.clientId !== 'string' || typeof body.clientSecret !== 'string') {
      return sendJson(res, 400, {
        message: 'Body must be JSON {"clientId": string, "clientSecret": string}',
      });
    }
    if (secrets.get(body.clientId) !== body.clientSecret) return sendJson(res, 401, UNAUTHORIZED);
    const accessToken = randomToken(32);
    const issuedAt = now();
    const expiresAt = issuedAt + tokenLifetimeMs;
    tokens.set(accessToken, { clientId: body.clientId, expiresAt });
    issuedTokens.push(accessToken);
    const answer: Record<string, unknown> = { access_token: accessToken };
    if (expiresInFormat === 'epoch-ms') answer.expires_in = expiresAt;
    else if (expiresInFormat === 'epoch-s') answer.expires_in = Math.floor(expiresAt / 1000);
    else if (expiresInFormat === 'duration-s') answer.expires_in = Math.round(tokenLifetimeMs / 1000);
    return sendJson(res, 200, answer, noStore);
  };

  const setup = async (req: IncomingMessage, res: ServerResponse) => {
    if (!validToken(req)) return sendJson(res, 401, UNAUTHORIZED);
    const body = await readJsonBody(req);
    if (!body) return sendJson(res, 400, { message: 'Body must be a JSON object' });
    const { email, name, groupIds } = body;
    if (typeof email !== 'string' || !EMAIL.test(email)) {
      return sendJson(res, 400, { message: '"email" is required and must be a valid email address' });
    }
    if (name !== undefined && typeof name !== 'string') {
      return sendJson(res, 400, { message: '"name" must be a string' });
    }
    if (
      groupIds !== undefined &&
      !(Array.isArray(groupIds) && groupIds.every((g) => typeof g === 'string'))
    ) {
      return sendJson(res, 400, { message: '"groupIds" must be an array of strings' });
    }
    const key = email.toLowerCase();
    const user = users.get(key);
    if (!user) users.set(key, { email, ...(name !== undefined ? { name } : {}) });
    else if (name !== undefined) user.name = name;
    const ticketId = randomUUID();
    tickets.set(ticketId, {
      email,
      groupIds: (groupIds as string[] | undefined) ?? [],
      expiresAt: now() + ticketLifetimeMs,
      used: false,
      ...(name !== undefined ? { name } : {}),
    });
    issuedTickets.push(ticketId);
    return sendJson(res, 200, { ticket: ticketId }, noStore);
  };

  /** Where a redemption sends the browser: `returnTo` if its origin is allowed, else the dashboard. */
  const redirectTarget = (returnTo: string | null): string => {
    if (returnTo === null) return '/dashboard';
    let target: URL;
    try {
      target = new URL(returnTo);
    } catch {
      return '/dashboard';
    }
    return isLoopbackUrl(target) || allowedReturnOrigins.has(target.origin) ? target.href : '/dashboard';
  };

  const redeem = (res: ServerResponse, ticketId: string, url: URL) => {
    const ticket = tickets.get(ticketId);
    if (!ticket || ticket.used || ticket.expiresAt <= now()) {
      return sendHtml(
        res,
        401,
        page(
          'Ticket invalid',
          '<h1>Sign-in failed</h1><p data-testid="ticket-invalid">This ticket is invalid or has expired.</p>',
        ),
        noStore,
      );
    }
    ticket.used = true;
    const sessionId = randomToken(32);
    sessions.set(sessionId, {
      email: ticket.email,
      groupIds: ticket.groupIds,
      ...(ticket.name !== undefined ? { name: ticket.name } : {}),
    });
    res.writeHead(302, {
      location: redirectTarget(url.searchParams.get('returnTo')),
      'set-cookie': `${ASTRATO_SESSION_COOKIE}=${sessionId}; Path=/; HttpOnly; Secure; SameSite=None`,
      'cache-control': 'no-store',
      'content-length': '0',
    });
    res.end();
  };

  const dashboard = (req: IncomingMessage, res: ServerResponse) => {
    const sessionId = parseCookies(req.headers.cookie).get(ASTRATO_SESSION_COOKIE);
    const session = sessionId === undefined ? undefined : sessions.get(sessionId);
    const state = {
      source: 'astrato-simulator',
      signedIn: session !== undefined,
      email: session?.email ?? null,
    };
    let content: string;
    if (session) {
      const groups =
        session.groupIds.length === 0
          ? '<p data-testid="no-groups">No groups for this session: the user has no access to any data.</p>'
          : `<ul>${session.groupIds.map((g) => `<li data-testid="group">${escapeHtml(g)}</li>`).join('')}</ul>`;
      const name =
        session.name === undefined ? '' : ` (<span data-testid="name">${escapeHtml(session.name)}</span>)`;
      content =
        `<main data-testid="dashboard"><h1>Dashboard</h1>` +
        `<p>Signed in as <span data-testid="email">${escapeHtml(session.email)}</span>${name}</p>` +
        `<h2>Groups</h2>${groups}</main>`;
    } else {
      content = '<main data-testid="signed-out"><h1>Not signed in</h1><p>Not signed in.</p></main>';
    }
    // Tells an embedding page whether this frame is signed in (a blocked third-party cookie looks
    // exactly like "Not signed in" from inside the frame).
    const script = `<script>(function(){var s=${scriptJson(state)};if(window.parent!==window){window.parent.postMessage(s,'*');}})();</script>`;
    return sendHtml(res, 200, page('Astrato simulator', content + script), {
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, { url, signal }: RequestContext) => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (await handleSimControl(req, res, path, control)) return;

    let endpoint: AstratoEndpoint | undefined;
    let run: (() => Promise<void> | void) | undefined;
    const ticketMatch = TICKET_PATH.exec(path);
    if (path === '/auth/proxy/m2m/token') {
      endpoint = 'token';
      if (method === 'POST') run = () => mintToken(req, res);
    } else if (path === '/oem/setup') {
      endpoint = 'setup';
      if (method === 'POST') run = () => setup(req, res);
    } else if (ticketMatch) {
      // Both forms the vendor uses: `.../ticket/{id}/embed` and `.../ticket/{id}?embed`.
      const embed = ticketMatch[2] !== undefined || url.searchParams.has('embed');
      if (!embed) throw new HttpError(404, 'Not found (ticket URLs end in /embed or carry ?embed)');
      endpoint = 'ticket';
      const ticketId = decodeURIComponent(ticketMatch[1] ?? '');
      if (method === 'GET') run = () => redeem(res, ticketId, url);
    } else if (path === '/dashboard') {
      endpoint = 'dashboard';
      if (method === 'GET') run = () => dashboard(req, res);
    }
    if (endpoint === undefined) throw new HttpError(404, 'Not found');
    counters.hit(endpoint);
    if (await faults.apply(endpoint, res, signal, (status) => faultBody(endpoint, status))) return;
    if (run === undefined) {
      res.setHeader('allow', endpoint === 'token' || endpoint === 'setup' ? 'POST' : 'GET');
      throw new HttpError(405, 'Method not allowed');
    }
    await run();
  };

  const control = {
    faults,
    counts: () => counters.snapshot(),
    resetCounts: () => counters.reset(),
    revokeAllTokens: () => tokens.clear(),
    rotateClientSecret(clientId: string, newSecret: string) {
      if (!secrets.has(clientId)) throw new UnknownClientError(clientId);
      secrets.set(clientId, newSecret);
    },
    extra: {
      'GET /__sim/users': (_req: IncomingMessage, res: ServerResponse) =>
        sendJson(res, 200, [...users.values()]),
      'GET /__sim/tokens': (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 200, issuedTokens),
      'GET /__sim/tickets': (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 200, issuedTickets),
    },
  };

  const server = await startHttpServer(handle, opts.port !== undefined ? { port: opts.port } : {});
  return {
    url: server.url,
    stop: () => server.stop(),
    counts: control.counts,
    resetCounts: control.resetCounts,
    faults,
    revokeAllTokens: control.revokeAllTokens,
    rotateClientSecret: control.rotateClientSecret,
    users: () => [...users.values()].map((u) => ({ ...u })),
    tokensIssued: () => [...issuedTokens],
    ticketsIssued: () => [...issuedTickets],
  };
}

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}li{margin:.2rem 0}</style>' +
    `</head><body>${body}</body></html>`
  );
}
