import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counters, type FaultBody, FaultController, reasonPhrase } from './faults';
import {
  bearerToken,
  escapeHtml,
  HttpError,
  isRecord,
  parseCookies,
  parseJson,
  type RequestContext,
  randomToken,
  readBody,
  scriptJson,
  sendHtml,
  sendJson,
  sendNoContent,
  startHttpServer,
} from './http-kit';
import { handleSimControl, UnknownClientError } from './sim-control';

/**
 * Astrato OEM simulator. It models what the vendor documents, and where each behaviour comes from:
 *
 * | behaviour | source |
 * | --- | --- |
 * | `POST /auth/proxy/m2m/token` `{clientId, clientSecret}` -> `{access_token, expires_in}`, 10 minutes | help page [1] |
 * | `POST /oem/setup` (Bearer) `{email, name?, groupIds?, groupNames?}` -> `{ticket}`; unknown email creates a user; no group = no permissions | help page [1], sample [2] |
 * | ticket valid 60 s, single use; session 7 days; expiry not configurable at the vendor | help page [1] |
 * | `GET /auth/proxy/oem/ticket/{id}?embed` fetched by the page with `credentials: 'include'`, answers JSON | samples [2] [3] |
 * | `GET /auth/proxy/oem/ticket/{id}/embed` top-level, into the app UI | docs/design.md (the vendor's portal form) |
 * | `GET /auth/proxy/0/sign_out` ends the session | help page [1] |
 * | the parent page listens for `{type: 'Astrato', message: '401Error'}` from the embedded app (a fresh ticket, then a reload) | sample [2] |
 *
 * [1] https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
 * [2] github.com/astrato-io/astrato-oem-integration-example (src/templates/index.html, src/services/auth.js)
 * [3] github.com/astrato-io/oem-e2e-poc-public (www/pages/index.php)
 *
 * Stated assumptions: credentialed CORS on the `?embed` form for the configured embedding origins
 * only (`embeddingOrigins`); the samples' cross-origin fetch implies it, no page spells it out. And
 * the embedded app posting `401Error` to its parent (from its own window, with the embed link's
 * origin) when it is not signed in: the sample only listens for it, no page says when it is posted.
 * Simulator-only (the product and the demo rely on none of it): the JSON shape of the `?embed`
 * answer and of its errors, the `/dashboard` page standing for the tenant's embed link, the pages'
 * wording, that a page without a session posts `401Error` once while it loads (never later), the
 * cookie name, the sign-out page, fault injection and the `/__sim/` control API.
 */
export type AstratoEndpoint = 'token' | 'setup' | 'ticket' | 'signOut' | 'dashboard';

/** Endpoints as counted and faulted (`ticket` covers both redemption forms). */
export const ASTRATO_ENDPOINTS: readonly AstratoEndpoint[] = [
  'token',
  'setup',
  'ticket',
  'signOut',
  'dashboard',
];

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
  /** @default 60 (the vendor documents 60 s) */
  ticketLifetimeSeconds?: number;
  /** @default 604800 (the vendor documents 7 days) */
  sessionLifetimeSeconds?: number;
  /**
   * Origins (`scheme://host:port`) allowed to redeem with a credentialed `fetch` (the `?embed`
   * form): one of the stated assumptions. @default none
   */
  embeddingOrigins?: string[];
  /** Epoch ms. @default Date.now (a test moves it to make tokens and tickets expire) */
  now?: () => number;
  /** Source for fault `errorRate`. @default Math.random */
  random?: () => number;
  /**
   * Called as a request opens (+1) and as its response closes (-1), in order: how a test or a
   * benchmark sees what a client had open at once across several simulators (simulator-only).
   */
  onInFlight?: (endpoint: AstratoEndpoint, change: 1 | -1) => void;
}

/** A running simulator, with the test hooks. */
export interface AstratoSimulator {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** Where the simulator's app UI shows the dashboard (stands for the tenant's embed link). */
  dashboardUrl: string;
  stop(): Promise<void>;
  counts(): Record<AstratoEndpoint, number>;
  /** Requests open now and the most open at once since the last `resetCounts()`, per endpoint. */
  inFlight(): { current: Record<AstratoEndpoint, number>; peak: Record<AstratoEndpoint, number> };
  resetCounts(): void;
  faults: FaultController<AstratoEndpoint>;
  /** Every m2m token minted so far stops working. */
  revokeAllTokens(): void;
  /** The old secret is refused from now on; tokens already minted stay valid until they expire. */
  rotateClientSecret(clientId: string, newSecret: string): void;
  /** Replaces the origins allowed to redeem with a credentialed fetch. */
  setEmbeddingOrigins(origins: readonly string[]): void;
  /** Users created by `/oem/setup`, in creation order. */
  users(): Array<{ email: string; name?: string }>;
  /** Every access token minted (tests search logs for them). */
  tokensIssued(): string[];
  ticketsIssued(): string[];
  /** Sessions alive now (signed out and expired ones are gone). */
  activeSessions(): number;
}

/** Name of the session cookie set by a ticket redemption (simulator-only: the vendor's is not documented). */
export const ASTRATO_SESSION_COOKIE = 'astrato_session';

/**
 * What the vendor's sample page listens for from the embedded app. That the app posts it when it is
 * not signed in is a stated assumption; that it does so once while a page loads is simulator-only.
 */
export const NOT_SIGNED_IN_MESSAGE = { type: 'Astrato', message: '401Error' } as const;

interface AccessToken {
  clientId: string;
  expiresAt: number;
}

interface Grant {
  email: string;
  name?: string;
  groupIds: string[];
  groupNames: string[];
}

interface Ticket extends Grant {
  expiresAt: number;
  used: boolean;
}

interface Session extends Grant {
  expiresAt: number;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TICKET_PATH = /^\/auth\/proxy\/oem\/ticket\/([^/]+)(\/embed)?$/;
const SIGN_OUT_PATH = '/auth/proxy/0/sign_out';
const UNAUTHORIZED = { message: 'Unauthorized' };

/** Starts the simulator on 127.0.0.1. */
export async function startAstratoSimulator(opts: AstratoSimulatorOptions = {}): Promise<AstratoSimulator> {
  const now = opts.now ?? Date.now;
  const tokenLifetimeMs = (opts.tokenLifetimeSeconds ?? 600) * 1000;
  const ticketLifetimeMs = (opts.ticketLifetimeSeconds ?? 60) * 1000;
  const sessionLifetimeMs = (opts.sessionLifetimeSeconds ?? 7 * 24 * 3600) * 1000;
  const expiresInFormat = opts.expiresInFormat ?? 'epoch-ms';
  let embeddingOrigins = new Set<string>();
  const setEmbeddingOrigins = (origins: readonly string[]) => {
    embeddingOrigins = new Set(origins.map((origin) => new URL(origin).origin));
  };
  setEmbeddingOrigins(opts.embeddingOrigins ?? []);

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
  const counters = new Counters(ASTRATO_ENDPOINTS, opts.onInFlight);
  const faults = new FaultController(ASTRATO_ENDPOINTS, opts.random);

  const noStore = { 'cache-control': 'no-store' };

  const faultBody = (endpoint: AstratoEndpoint, status: number): FaultBody =>
    endpoint === 'dashboard' || endpoint === 'signOut'
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

  const isStringArray = (value: unknown): value is string[] =>
    Array.isArray(value) && value.every((entry) => typeof entry === 'string');

  const setup = async (req: IncomingMessage, res: ServerResponse) => {
    if (!validToken(req)) return sendJson(res, 401, UNAUTHORIZED);
    const body = await readJsonBody(req);
    if (!body) return sendJson(res, 400, { message: 'Body must be a JSON object' });
    const { email, name, groupIds, groupNames } = body;
    if (typeof email !== 'string' || !EMAIL.test(email)) {
      return sendJson(res, 400, { message: '"email" is required and must be a valid email address' });
    }
    if (name !== undefined && typeof name !== 'string') {
      return sendJson(res, 400, { message: '"name" must be a string' });
    }
    if (groupIds !== undefined && !isStringArray(groupIds)) {
      return sendJson(res, 400, { message: '"groupIds" must be an array of strings' });
    }
    if (groupNames !== undefined && !isStringArray(groupNames)) {
      return sendJson(res, 400, { message: '"groupNames" must be an array of strings' });
    }
    const key = email.toLowerCase();
    const user = users.get(key);
    if (!user) users.set(key, { email, ...(name !== undefined ? { name } : {}) });
    else if (name !== undefined) user.name = name;
    const ticketId = randomUUID();
    tickets.set(ticketId, {
      email,
      groupIds: groupIds ?? [],
      groupNames: groupNames ?? [],
      expiresAt: now() + ticketLifetimeMs,
      used: false,
      ...(name !== undefined ? { name } : {}),
    });
    issuedTickets.push(ticketId);
    return sendJson(res, 200, { ticket: ticketId }, noStore);
  };

  /** Consumes a valid ticket into a new session; undefined when it is unknown, used or expired. */
  const consume = (ticketId: string): { sessionId: string; session: Session } | undefined => {
    const ticket = tickets.get(ticketId);
    if (!ticket || ticket.used || ticket.expiresAt <= now()) return undefined;
    ticket.used = true;
    const sessionId = randomToken(32);
    const session: Session = {
      email: ticket.email,
      groupIds: ticket.groupIds,
      groupNames: ticket.groupNames,
      expiresAt: now() + sessionLifetimeMs,
      ...(ticket.name !== undefined ? { name: ticket.name } : {}),
    };
    sessions.set(sessionId, session);
    return { sessionId, session };
  };

  const sessionCookie = (sessionId: string) =>
    `${ASTRATO_SESSION_COOKIE}=${sessionId}; Path=/; HttpOnly; Secure; SameSite=None`;

  /** Credentialed CORS for the configured embedding origins only; nothing for any other origin. */
  const corsHeaders = (req: IncomingMessage): Record<string, string> => {
    const origin = req.headers.origin;
    const headers: Record<string, string> = { vary: 'Origin' };
    if (origin !== undefined && embeddingOrigins.has(origin)) {
      headers['access-control-allow-origin'] = origin;
      headers['access-control-allow-credentials'] = 'true';
    }
    return headers;
  };

  /** `?embed`: the page's credentialed fetch. Cookie plus the resolved user as JSON. */
  const redeemForFetch = (req: IncomingMessage, res: ServerResponse, ticketId: string) => {
    const cors = corsHeaders(req);
    const redeemed = consume(ticketId);
    if (!redeemed) {
      return sendJson(res, 401, { message: 'Ticket is invalid or has expired' }, { ...noStore, ...cors });
    }
    const { session } = redeemed;
    return sendJson(
      res,
      200,
      {
        email: session.email,
        ...(session.name !== undefined ? { name: session.name } : {}),
        groupIds: session.groupIds,
        groupNames: session.groupNames,
      },
      { ...noStore, ...cors, 'set-cookie': sessionCookie(redeemed.sessionId) },
    );
  };

  /** `/embed`: a top-level navigation. Cookie, then into the app UI; nothing leads back. */
  const redeemTopLevel = (res: ServerResponse, ticketId: string) => {
    const redeemed = consume(ticketId);
    if (!redeemed) {
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
    res.writeHead(302, {
      location: '/dashboard',
      'set-cookie': sessionCookie(redeemed.sessionId),
      'cache-control': 'no-store',
      'content-length': '0',
    });
    res.end();
  };

  const preflight = (req: IncomingMessage, res: ServerResponse) => {
    const cors = corsHeaders(req);
    if (cors['access-control-allow-origin'] !== undefined) {
      cors['access-control-allow-methods'] = 'GET';
      const requested = req.headers['access-control-request-headers'];
      if (typeof requested === 'string' && requested.length > 0)
        cors['access-control-allow-headers'] = requested;
      cors['access-control-max-age'] = '600';
    }
    res.writeHead(204, { ...cors, 'content-length': '0' });
    res.end();
  };

  const sessionOf = (req: IncomingMessage): { id: string; session: Session } | undefined => {
    const id = parseCookies(req.headers.cookie).get(ASTRATO_SESSION_COOKIE);
    const session = id === undefined ? undefined : sessions.get(id);
    if (id === undefined || session === undefined) return undefined;
    if (session.expiresAt <= now()) {
      sessions.delete(id);
      return undefined;
    }
    return { id, session };
  };

  const signOut = (req: IncomingMessage, res: ServerResponse) => {
    const current = sessionOf(req);
    if (current) sessions.delete(current.id);
    return sendHtml(
      res,
      200,
      page('Signed out', '<main data-testid="signed-out-page"><h1>Signed out</h1></main>'),
      {
        ...noStore,
        'set-cookie': `${ASTRATO_SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None`,
      },
    );
  };

  const groupList = (label: string, testId: string, values: readonly string[]) =>
    values.length === 0
      ? ''
      : `<h2>${label}</h2><ul>${values.map((g) => `<li data-testid="${testId}">${escapeHtml(g)}</li>`).join('')}</ul>`;

  const dashboard = (req: IncomingMessage, res: ServerResponse) => {
    const session = sessionOf(req)?.session;
    let content: string;
    let script = '';
    if (session) {
      const permissions =
        session.groupIds.length === 0 && session.groupNames.length === 0
          ? '<p data-testid="no-permissions">No permissions: this user was given no group, so there is no data to show.</p>'
          : groupList('Groups', 'group', session.groupIds) +
            groupList('Group names', 'group-name', session.groupNames);
      const name =
        session.name === undefined ? '' : ` (<span data-testid="name">${escapeHtml(session.name)}</span>)`;
      content =
        `<main data-testid="dashboard"><h1>Dashboard</h1>` +
        `<p>Signed in as <span data-testid="email">${escapeHtml(session.email)}</span>${name}</p>` +
        `${permissions}</main>`;
    } else {
      content = '<main data-testid="signed-out"><h1>Not signed in</h1><p>Not signed in.</p></main>';
      // What the vendor's sample page listens for (posting it when not signed in: an assumption;
      // once, while the page loads: simulator-only); a blocked third-party cookie looks the same.
      script = `<script>if(window.parent!==window){window.parent.postMessage(${scriptJson(NOT_SIGNED_IN_MESSAGE)},'*');}</script>`;
    }
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
    let allow = 'GET';
    const ticketMatch = TICKET_PATH.exec(path);
    if (path === '/auth/proxy/m2m/token') {
      endpoint = 'token';
      allow = 'POST';
      if (method === 'POST') run = () => mintToken(req, res);
    } else if (path === '/oem/setup') {
      endpoint = 'setup';
      allow = 'POST';
      if (method === 'POST') run = () => setup(req, res);
    } else if (ticketMatch) {
      const topLevel = ticketMatch[2] !== undefined;
      if (!topLevel && !url.searchParams.has('embed')) {
        throw new HttpError(404, 'Not found (ticket URLs end in /embed or carry ?embed)');
      }
      endpoint = 'ticket';
      const ticketId = decodeURIComponent(ticketMatch[1] ?? '');
      if (method === 'GET')
        run = topLevel ? () => redeemTopLevel(res, ticketId) : () => redeemForFetch(req, res, ticketId);
      else if (method === 'OPTIONS' && !topLevel) run = () => preflight(req, res);
      if (!topLevel) allow = 'GET, OPTIONS';
    } else if (path === SIGN_OUT_PATH) {
      endpoint = 'signOut';
      if (method === 'GET') run = () => signOut(req, res);
    } else if (path === '/dashboard') {
      endpoint = 'dashboard';
      if (method === 'GET') run = () => dashboard(req, res);
    }
    if (endpoint === undefined) throw new HttpError(404, 'Not found');
    counters.hit(endpoint, res);
    if (await faults.apply(endpoint, res, signal, (status) => faultBody(endpoint, status))) return;
    if (run === undefined) {
      res.setHeader('allow', allow);
      throw new HttpError(405, 'Method not allowed');
    }
    await run();
  };

  const control = {
    faults,
    counts: () => counters.snapshot(),
    inFlight: () => counters.inFlight(),
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
      'PUT /__sim/embedding-origins': async (req: IncomingMessage, res: ServerResponse) => {
        const origins = parseJson(await readBody(req, 16 * 1024));
        if (!isStringArray(origins) || !origins.every((origin) => URL.canParse(origin))) {
          throw new HttpError(400, 'body must be a JSON array of origins');
        }
        setEmbeddingOrigins(origins);
        sendNoContent(res);
      },
    },
  };

  const server = await startHttpServer(handle, opts.port !== undefined ? { port: opts.port } : {});
  return {
    url: server.url,
    dashboardUrl: `${server.url}/dashboard`,
    stop: () => server.stop(),
    counts: control.counts,
    inFlight: control.inFlight,
    resetCounts: control.resetCounts,
    faults,
    revokeAllTokens: control.revokeAllTokens,
    rotateClientSecret: control.rotateClientSecret,
    setEmbeddingOrigins,
    users: () => [...users.values()].map((u) => ({ ...u })),
    tokensIssued: () => [...issuedTokens],
    ticketsIssued: () => [...issuedTickets],
    activeSessions: () => [...sessions.values()].filter((session) => session.expiresAt > now()).length,
  };
}

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}li{margin:.2rem 0}</style>' +
    `</head><body>${body}</body></html>`
  );
}
