import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { Counters, type FaultBody, FaultController, oauthErrorFor, reasonPhrase } from './faults';
import {
  bearerToken,
  HttpError,
  mediaType,
  type RequestContext,
  readBody,
  send,
  sendJson,
  sendNoContent,
  startHttpServer,
} from './http-kit';
import { handleSimControl, readControlBody, UnknownClientError } from './sim-control';

/**
 * A Keycloak-style OAuth 2.0 token endpoint (client credentials, refresh tokens) and a stand-in for
 * the OMS API it protects, faithful to how Keycloak answers (docs/design.md "Upstreams",
 * `oauth2-client-credentials`), with fault injection and the `/__sim/` control API.
 *
 * Extra control routes: `POST /__sim/revoke-refresh`, `GET /__sim/grant-counts`,
 * `GET /__sim/tokens`, `PUT /__sim/clients` (JSON {@link KeycloakClientConfig}).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749
 */
export type KeycloakEndpoint = 'token' | 'oms';

/** Endpoints as counted and faulted. */
export const KEYCLOAK_ENDPOINTS: readonly KeycloakEndpoint[] = ['token', 'oms'];

/** The body of a successful OMS API call. */
export const OMS_WELCOME = 'Hello ! Welcome to the Astoreshop OMS API';

/** A confidential client of the realm (client-secret authentication). */
export interface KeycloakClientConfig {
  clientId: string;
  clientSecret: string;
  /** Keycloak's "Use refresh tokens for client credentials grant". @default false */
  refreshTokens?: boolean;
  /** @default true; false -> `unauthorized_client` */
  serviceAccountsEnabled?: boolean;
  /** Optional scopes the client may request. @default ['orders:read', 'orders:write'] */
  allowedScopes?: string[];
}

/** Options of {@link startKeycloakSimulator}; every one has a default. */
export interface KeycloakSimulatorOptions {
  port?: number;
  /** @default 'astore-p2p' */
  realm?: string;
  /** Default: one client, `oms-client` / `oms-secret`, refresh tokens off. */
  clients?: KeycloakClientConfig[];
  /** @default 300 */
  accessTokenLifetimeSeconds?: number;
  /** @default 1800 */
  refreshTokenLifetimeSeconds?: number;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /** Source for fault `errorRate`. @default Math.random */
  random?: () => number;
  /**
   * Status of a failed client authentication (unknown client, wrong or missing secret). Keycloak
   * has answered these as 400 or 401 across versions. @default 401
   */
  invalidClientStatus?: 400 | 401;
  /**
   * Error code of a failed client authentication. RFC 6749 says `invalid_client`; Keycloak's
   * client-secret authenticator (20 to 26 at least) really answers a wrong or missing secret with
   * 401 `unauthorized_client` "Invalid client or Invalid client credentials". @default 'invalid_client'
   */
  invalidClientError?: 'invalid_client' | 'unauthorized_client';
  /**
   * Called as a request opens (+1) and as its response closes (-1), in order: how a test sees
   * what a client had open at once across several simulators (simulator-only).
   */
  onInFlight?: (endpoint: KeycloakEndpoint, change: 1 | -1) => void;
}

/** A running simulator, with the test hooks. */
export interface KeycloakSimulator {
  /** Origin, e.g. `http://127.0.0.1:41235`. */
  url: string;
  /** `${url}/realms/${realm}/protocol/openid-connect/token` */
  tokenUrl: string;
  /** `${url}/oms-api/` */
  omsApiUrl: string;
  stop(): Promise<void>;
  counts(): Record<KeycloakEndpoint, number>;
  /** Requests open now and the most open at once since the last `resetCounts()`, per endpoint. */
  inFlight(): { current: Record<KeycloakEndpoint, number>; peak: Record<KeycloakEndpoint, number> };
  resetCounts(): void;
  /** Token requests per `grant_type` (faulted and refused ones included, like {@link counts}). */
  grantCounts(): Record<'client_credentials' | 'refresh_token', number>;
  faults: FaultController<KeycloakEndpoint>;
  /** Access and refresh tokens. */
  revokeAllTokens(): void;
  revokeRefreshTokens(): void;
  /** The old secret is refused from now on; tokens already issued stay valid. */
  rotateClientSecret(clientId: string, newSecret: string): void;
  /** Adds or replaces a client at run time. */
  setClient(config: KeycloakClientConfig): void;
  /** Access and refresh tokens minted. */
  tokensIssued(): string[];
}

type Grant = 'client_credentials' | 'refresh_token';
const GRANTS: readonly Grant[] = ['client_credentials', 'refresh_token'];

interface IssuedToken {
  kind: 'access' | 'refresh';
  clientId: string;
  expiresAt: number;
  scope: string;
}

/** An RFC 6749 5.2 error response. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error}: ${description}`);
  }
}

const TOKEN_PATH = /^\/realms\/([^/]+)\/protocol\/openid-connect\/token$/;
const DEFAULT_SCOPES = ['profile', 'email'];
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** Starts the simulator on 127.0.0.1. */
export async function startKeycloakSimulator(
  opts: KeycloakSimulatorOptions = {},
): Promise<KeycloakSimulator> {
  const realm = opts.realm ?? 'astore-p2p';
  const now = opts.now ?? Date.now;
  const accessLifetime = opts.accessTokenLifetimeSeconds ?? 300;
  const refreshLifetime = opts.refreshTokenLifetimeSeconds ?? 1800;
  const invalidClientStatus = opts.invalidClientStatus ?? 401;
  const invalidClientError = opts.invalidClientError ?? 'invalid_client';
  const signingKey = randomBytes(32);
  const kid = randomBytes(8).toString('hex');

  const clients = new Map<string, KeycloakClientConfig>();
  const setClient = (config: KeycloakClientConfig) => {
    clients.set(config.clientId, {
      ...config,
      ...(config.allowedScopes ? { allowedScopes: [...config.allowedScopes] } : {}),
    });
  };
  for (const c of opts.clients ?? [{ clientId: 'oms-client', clientSecret: 'oms-secret' }]) setClient(c);

  const tokens = new Map<string, IssuedToken>();
  const issued: string[] = [];
  const counters = new Counters(KEYCLOAK_ENDPOINTS, opts.onInFlight);
  const grants = new Counters(GRANTS);
  const faults = new FaultController(KEYCLOAK_ENDPOINTS, opts.random);
  let origin = '';

  const faultBody = (endpoint: KeycloakEndpoint, status: number): FaultBody =>
    endpoint === 'token'
      ? {
          body: JSON.stringify({
            error: oauthErrorFor(status),
            error_description: `Simulated ${reasonPhrase(status)}`,
          }),
          contentType: 'application/json',
        }
      : { body: JSON.stringify({ message: reasonPhrase(status) }), contentType: 'application/json' };

  /** JWT-shaped (HS256 with a key of this run): looks like Keycloak's, validated by lookup. */
  const mint = (
    kind: IssuedToken['kind'],
    client: KeycloakClientConfig,
    scope: string,
    lifetime: number,
  ): string => {
    const iat = Math.floor(now() / 1000);
    const issuer = `${origin}/realms/${realm}`;
    const header = { alg: 'HS256', typ: 'JWT', kid };
    const payload =
      kind === 'access'
        ? {
            exp: iat + lifetime,
            iat,
            jti: randomUUID(),
            iss: issuer,
            aud: 'account',
            sub: `service-account-${client.clientId}`,
            typ: 'Bearer',
            azp: client.clientId,
            scope,
            clientId: client.clientId,
            preferred_username: `service-account-${client.clientId}`,
          }
        : {
            exp: iat + lifetime,
            iat,
            jti: randomUUID(),
            iss: issuer,
            aud: issuer,
            typ: 'Refresh',
            azp: client.clientId,
            scope,
          };
    const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
    const unsigned = `${encode(header)}.${encode(payload)}`;
    const token = `${unsigned}.${createHmac('sha256', signingKey).update(unsigned).digest('base64url')}`;
    tokens.set(token, { kind, clientId: client.clientId, expiresAt: now() + lifetime * 1000, scope });
    issued.push(token);
    return token;
  };

  const tokenResponse = (client: KeycloakClientConfig, scope: string) => {
    const answer: Record<string, unknown> = {
      access_token: mint('access', client, scope, accessLifetime),
      expires_in: accessLifetime,
      refresh_expires_in: client.refreshTokens ? refreshLifetime : 0,
    };
    if (client.refreshTokens) answer.refresh_token = mint('refresh', client, scope, refreshLifetime);
    answer.token_type = 'Bearer';
    answer['not-before-policy'] = 0;
    answer.scope = scope;
    return answer;
  };

  const badClient = (usedBasic: boolean) =>
    new OAuthError(
      invalidClientStatus,
      invalidClientError,
      'Invalid client or Invalid client credentials',
      usedBasic && invalidClientStatus === 401 ? { 'www-authenticate': `Basic realm="${realm}"` } : {},
    );

  /** client_secret_basic or client_secret_post, never both (RFC 6749 2.3.1). */
  const authenticate = (req: IncomingMessage, form: URLSearchParams): KeycloakClientConfig => {
    const header = req.headers.authorization;
    const basic = header !== undefined && /^Basic /i.test(header) ? header.slice(6).trim() : undefined;
    let clientId: string | undefined;
    let secret: string | undefined;
    if (basic !== undefined) {
      // Keycloak itself lets form parameters override the header; refusing both catches a client
      // that sends both, which RFC 6749 2.3 forbids and docs/design.md rules out.
      if (form.has('client_secret')) {
        throw new OAuthError(
          400,
          'invalid_request',
          'Multiple client authentication methods used (Basic and client_secret)',
        );
      }
      const credentials = parseBasic(basic);
      if (credentials === undefined) throw badClient(true);
      [clientId, secret] = credentials;
      const formId = form.get('client_id');
      if (formId !== null && formId !== clientId) {
        throw new OAuthError(400, 'invalid_request', 'client_id does not match the Authorization header');
      }
    } else {
      clientId = form.get('client_id') ?? undefined;
      secret = form.get('client_secret') ?? undefined;
      if (clientId === undefined) throw new OAuthError(400, 'invalid_client', 'Missing client_id parameter');
    }
    const client = clients.get(clientId);
    if (client === undefined || secret === undefined || secret !== client.clientSecret)
      throw badClient(basic !== undefined);
    return client;
  };

  const grantScope = (client: KeycloakClientConfig, requested: string | null): string => {
    const allowed = new Set([
      ...DEFAULT_SCOPES,
      ...(client.allowedScopes ?? ['orders:read', 'orders:write']),
    ]);
    const wanted = (requested ?? '').split(' ').filter((s) => s !== '');
    const refused = wanted.filter((s) => !allowed.has(s));
    if (refused.length > 0)
      throw new OAuthError(400, 'invalid_scope', `Invalid scopes: ${refused.join(' ')}`);
    return [...new Set([...DEFAULT_SCOPES, ...wanted])].join(' ');
  };

  const token = async (req: IncomingMessage, res: ServerResponse, form: URLSearchParams | OAuthError) => {
    if (form instanceof OAuthError) throw form;
    const grantType = form.get('grant_type');
    if (grantType === null || grantType === '') {
      throw new OAuthError(400, 'invalid_request', 'Missing form parameter: grant_type');
    }
    if (!GRANTS.includes(grantType as Grant))
      throw new OAuthError(400, 'unsupported_grant_type', 'Unsupported grant_type');
    const client = authenticate(req, form);
    if (grantType === 'client_credentials') {
      if (client.serviceAccountsEnabled === false) {
        throw new OAuthError(400, 'unauthorized_client', 'Client not enabled to retrieve service account');
      }
      return sendJson(res, 200, tokenResponse(client, grantScope(client, form.get('scope'))), NO_STORE);
    }
    const refreshToken = form.get('refresh_token');
    if (refreshToken === null || refreshToken === '') {
      throw new OAuthError(400, 'invalid_request', 'Missing parameter: refresh_token');
    }
    const previous = tokens.get(refreshToken);
    if (
      previous?.kind !== 'refresh' ||
      previous.clientId !== client.clientId ||
      previous.expiresAt <= now()
    ) {
      throw new OAuthError(400, 'invalid_grant', 'Token is not active');
    }
    return sendJson(res, 200, tokenResponse(client, previous.scope), NO_STORE);
  };

  /** Reads and checks the form; an OAuthError is returned (not thrown) so faults still apply first. */
  const readForm = async (req: IncomingMessage): Promise<URLSearchParams | OAuthError> => {
    const text = await readBody(req, 64 * 1024);
    if (mediaType(req) !== 'application/x-www-form-urlencoded') {
      return new OAuthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(text);
    const seen = new Set<string>();
    for (const key of form.keys()) {
      if (seen.has(key)) return new OAuthError(400, 'invalid_request', `Duplicated parameter: ${key}`);
      seen.add(key);
    }
    return form;
  };

  const oms = (req: IncomingMessage, res: ServerResponse) => {
    const presented = bearerToken(req);
    const found = presented === undefined ? undefined : tokens.get(presented);
    if (found?.kind !== 'access' || found.expiresAt <= now()) {
      return send(res, 401, 'Unauthorized', 'text/plain; charset=utf-8', {
        'www-authenticate': presented === undefined ? 'Bearer' : 'Bearer error="invalid_token"',
      });
    }
    return send(res, 200, OMS_WELCOME, 'text/plain; charset=utf-8');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, { url, signal }: RequestContext) => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (await handleSimControl(req, res, path, control)) return;
    const tokenMatch = TOKEN_PATH.exec(path);
    if (tokenMatch) {
      counters.hit('token', res);
      const form = method === 'POST' ? await readForm(req) : undefined;
      const grantType = form instanceof URLSearchParams ? form.get('grant_type') : null;
      if (grantType !== null && GRANTS.includes(grantType as Grant)) grants.hit(grantType as Grant);
      if (await faults.apply('token', res, signal, (status) => faultBody('token', status))) return;
      if (decodeURIComponent(tokenMatch[1] ?? '') !== realm) {
        return sendJson(res, 404, { error: 'Realm does not exist' }, NO_STORE);
      }
      if (form === undefined) {
        res.setHeader('allow', 'POST');
        throw new HttpError(405, 'Method not allowed');
      }
      try {
        await token(req, res, form);
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        sendJson(
          res,
          error.status,
          { error: error.error, error_description: error.description },
          {
            ...NO_STORE,
            ...error.headers,
          },
        );
      }
      return;
    }
    if (path === '/oms-api/' || path === '/oms-api') {
      counters.hit('oms', res);
      if (await faults.apply('oms', res, signal, (status) => faultBody('oms', status))) return;
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('allow', 'GET');
        throw new HttpError(405, 'Method not allowed');
      }
      return oms(req, res);
    }
    throw new HttpError(404, 'Not found');
  };

  const revokeRefreshTokens = () => {
    for (const [value, t] of tokens) if (t.kind === 'refresh') tokens.delete(value);
  };

  const control = {
    faults,
    counts: () => counters.snapshot(),
    inFlight: () => counters.inFlight(),
    resetCounts: () => {
      counters.reset();
      grants.reset();
    },
    revokeAllTokens: () => tokens.clear(),
    rotateClientSecret(clientId: string, newSecret: string) {
      const client = clients.get(clientId);
      if (client === undefined) throw new UnknownClientError(clientId);
      client.clientSecret = newSecret;
    },
    extra: {
      'POST /__sim/revoke-refresh': (_req: IncomingMessage, res: ServerResponse) => {
        revokeRefreshTokens();
        sendNoContent(res);
      },
      'GET /__sim/grant-counts': (_req: IncomingMessage, res: ServerResponse) =>
        sendJson(res, 200, grants.snapshot()),
      'GET /__sim/tokens': (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 200, issued),
      'PUT /__sim/clients': async (req: IncomingMessage, res: ServerResponse) => {
        setClient(await readControlBody(req, clientConfigSchema, 'client'));
        sendNoContent(res);
      },
    },
  };

  const server = await startHttpServer(handle, opts.port !== undefined ? { port: opts.port } : {});
  origin = server.url;
  return {
    url: server.url,
    tokenUrl: `${server.url}/realms/${realm}/protocol/openid-connect/token`,
    omsApiUrl: `${server.url}/oms-api/`,
    stop: () => server.stop(),
    counts: control.counts,
    inFlight: control.inFlight,
    resetCounts: control.resetCounts,
    grantCounts: () => grants.snapshot(),
    faults,
    revokeAllTokens: control.revokeAllTokens,
    revokeRefreshTokens,
    rotateClientSecret: control.rotateClientSecret,
    setClient,
    tokensIssued: () => [...issued],
  };
}

/**
 * `Authorization: Basic` credentials per RFC 6749 2.3.1: base64 of
 * `urlencode(client_id) ":" urlencode(secret)`, split at the first ':', each part form-url-decoded
 * ('+' is a space). Undefined when malformed.
 */
export function parseBasic(encoded: string): [string, string] | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
  try {
    return [formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1))];
  } catch {
    return undefined;
  }
}

/** A client as `PUT /__sim/clients` takes it. */
const clientConfigSchema = z
  .object({
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    refreshTokens: z.boolean().optional(),
    serviceAccountsEnabled: z.boolean().optional(),
    allowedScopes: z.array(z.string()).optional(),
  })
  .strict();
