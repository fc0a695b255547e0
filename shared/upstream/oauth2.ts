import * as oauth from 'oauth4webapi';
import type { Clock } from '../clock';
import {
  ConfigurationError,
  InvalidClientError,
  InvalidGrantError,
  loggableText,
  UpstreamRejectedError,
  UpstreamUnavailableError,
} from '../errors';
import type { Log } from '../logging/ports';
import { parseRetryAfter } from '../retry-after';
import { tokenExpiry } from '../tokens/expiry';
import type { TokenProvider, TokenRequest } from '../tokens/ports';
import type { CachedToken, ClientCredentials } from '../tokens/token';
import { type FetchFn, readJsonObject, unexpectedAnswer, upstreamFetch } from './http';

const CHECK_TOKEN_URL =
  'the connection tokenUrl: it must be the token endpoint itself (Keycloak: https://<host>[/auth]/realms/<realm>/protocol/openid-connect/token); a 404 or an HTML page usually means a wrong host, path or realm';

/** How the client authenticates at the token endpoint (RFC 6749 2.3.1). */
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic';

export interface OAuth2ProviderOptions {
  readonly tokenUrl: string;
  /** Configured, never guessed, never both. Basic credentials are form-urlencoded first (RFC 6749 2.3.1). */
  readonly clientAuth: ClientAuthMethod;
  readonly scope?: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch?: FetchFn;
  /** Lifetime assumed when `expires_in` is missing or absurd. @default 300 */
  readonly defaultLifetimeSeconds?: number;
}

/** OAuth errors that only an operator can fix (client set-up, scopes, grant support). */
const CONFIGURATION_ERRORS = new Set(['unauthorized_client', 'invalid_scope', 'unsupported_grant_type']);

/**
 * One token-endpoint attempt of an `oauth2-client-credentials` connection: the client-credentials
 * grant (RFC 6749 4.4) through oauth4webapi, or the refresh-token grant (RFC 6749 6) while the
 * server's refresh token lasts (Keycloak's "use refresh tokens for client credentials grant"),
 * falling back to client credentials on `invalid_grant`. Errors are classified by RFC 6749 5.2's
 * `error`, not by status.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 * @see https://github.com/panva/oauth4webapi
 */
export class OAuth2ClientCredentialsProvider implements TokenProvider {
  private readonly server: oauth.AuthorizationServer;
  private readonly insecure: boolean;

  constructor(private readonly options: OAuth2ProviderOptions) {
    const url = new URL(options.tokenUrl);
    // Only the token endpoint is used, so no discovery: the issuer is nominal.
    this.server = { issuer: url.origin, token_endpoint: options.tokenUrl };
    // The configuration schema allows plain http on loopback only (local stack, tests).
    this.insecure = url.protocol === 'http:';
  }

  async requestToken(request: TokenRequest): Promise<CachedToken> {
    const { previous, credentials } = request;
    const now = this.options.clock.now();
    if (
      previous?.refreshToken !== undefined &&
      previous.secretVersion === credentials.versionId &&
      (previous.refreshExpiresAt === undefined || previous.refreshExpiresAt > now)
    ) {
      try {
        return await this.grant(request, 'refresh_token', previous.refreshToken);
      } catch (error) {
        if (!(error instanceof InvalidGrantError)) throw error;
        this.options.log.info('refresh token refused, falling back to client credentials', {
          connection: request.connection,
          oauthError: error.oauthError,
        });
      }
    }
    return this.grant(request, 'client_credentials');
  }

  private async grant(
    request: TokenRequest,
    grantType: 'client_credentials' | 'refresh_token',
    refreshToken?: string,
  ): Promise<CachedToken> {
    const client: oauth.Client = { client_id: request.credentials.clientId };
    const auth = this.clientAuth(request.credentials);
    const requestOptions = {
      [oauth.customFetch]: async (url: string, init: oauth.CustomFetchOptions<'POST', URLSearchParams>) =>
        (
          await upstreamFetch(url, init as RequestInit, {
            what: `token endpoint (${grantType})`,
            timeoutMs: this.options.timeoutMs,
            deadline: request.deadline,
            clock: this.options.clock,
            log: this.options.log,
            ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
          })
        ).toResponse(),
      [oauth.allowInsecureRequests]: this.insecure,
    };
    let result: oauth.TokenEndpointResponse;
    try {
      if (grantType === 'refresh_token' && refreshToken !== undefined) {
        const response = await oauth.refreshTokenGrantRequest(this.server, client, auth, refreshToken, {
          ...requestOptions,
          ...(this.options.scope ? { additionalParameters: { scope: this.options.scope } } : {}),
        });
        result = await oauth.processRefreshTokenResponse(this.server, client, response);
      } else {
        const parameters: Record<string, string> = this.options.scope ? { scope: this.options.scope } : {};
        const response = await oauth.clientCredentialsGrantRequest(
          this.server,
          client,
          auth,
          parameters,
          requestOptions,
        );
        result = await oauth.processClientCredentialsResponse(this.server, client, response);
      }
    } catch (error) {
      // Not an OAuth 2.0 answer at all (a 404 page, a login form): say where and what to check.
      if (error instanceof oauth.OperationProcessingError && error.cause instanceof Response) {
        this.options.log.error(`token endpoint (${grantType}): not an OAuth 2.0 token response`, {
          connection: request.connection,
          ...unexpectedAnswer(error.cause, this.options.tokenUrl, CHECK_TOKEN_URL),
        });
      }
      throw await classifyTokenError(error, grantType, this.options.clock.now());
    }
    return this.toToken(request, result);
  }

  private clientAuth(credentials: ClientCredentials): oauth.ClientAuth {
    return this.options.clientAuth === 'client_secret_basic'
      ? oauth.ClientSecretBasic(credentials.clientSecret)
      : oauth.ClientSecretPost(credentials.clientSecret);
  }

  private toToken(request: TokenRequest, result: oauth.TokenEndpointResponse): CachedToken {
    const obtainedAt = this.options.clock.now();
    const expiresAt = tokenExpiry(result.expires_in, obtainedAt, {
      what: 'token endpoint',
      connection: request.connection,
      log: this.options.log,
      defaultLifetimeSeconds: this.options.defaultLifetimeSeconds ?? 300,
    });
    // Keycloak's `refresh_expires_in` (seconds); 0 means it issued none worth using.
    const refreshExpiresIn = result.refresh_expires_in;
    const refreshUsable =
      typeof result.refresh_token === 'string' &&
      (refreshExpiresIn === undefined || (typeof refreshExpiresIn === 'number' && refreshExpiresIn > 0));
    return {
      connection: request.connection,
      accessToken: result.access_token,
      tokenType: result.token_type === 'bearer' ? 'Bearer' : result.token_type,
      expiresAt,
      obtainedAt,
      secretVersion: request.credentials.versionId,
      ...(typeof result.scope === 'string' ? { scope: result.scope } : {}),
      ...(refreshUsable && typeof result.refresh_token === 'string'
        ? {
            refreshToken: result.refresh_token,
            ...(typeof refreshExpiresIn === 'number'
              ? { refreshExpiresAt: obtainedAt + refreshExpiresIn * 1000 }
              : {}),
          }
        : {}),
    };
  }
}

/**
 * Maps what oauth4webapi throws to the broker's errors, by the RFC 6749 5.2 `error` value and
 * not by status: Keycloak answers `invalid_client` as 400 or 401.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export async function classifyTokenError(error: unknown, grantType: string, now: number): Promise<Error> {
  const what = `token endpoint (${grantType})`;
  if (error instanceof UpstreamUnavailableError || error instanceof UpstreamRejectedError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    return fromOAuthError(
      what,
      error.error,
      error.status,
      parseRetryAfter(error.response.headers.get('retry-after'), now),
      error.error_description,
    );
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    // A challenge (Basic realm=...) comes with the JSON error body still unread.
    const body = await readJsonObject(error.response);
    const challengeError = error.cause.find((challenge) => challenge.parameters.error)?.parameters.error;
    const code = typeof body?.error === 'string' ? body.error : (challengeError ?? 'invalid_client');
    const description = typeof body?.error_description === 'string' ? body.error_description : undefined;
    return fromOAuthError(what, code, error.status, undefined, description);
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    return new UpstreamRejectedError(`${what}: invalid token response (${error.message})`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** RFC 6749 5.2: `error` is one ASCII token; anything else is shown as what it is not. */
const OAUTH_ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

function fromOAuthError(
  what: string,
  error: string,
  status: number,
  retryAfterMs: number | undefined,
  description?: string,
): Error {
  // Upstream text: the code must be a short token to be matched on; the description is for people.
  const code = OAUTH_ERROR_CODE.test(error)
    ? error
    : `(not an RFC 6749 error code: ${loggableText(error, 40)})`;
  const options = { upstreamStatus: status, oauthError: code };
  const said = description === undefined ? '' : `: ${loggableText(description)}`;
  const message = `${what}: ${code} (${status})${said}`;
  // Keycloak answers a wrong client secret with 401 `unauthorized_client` ("Invalid client or
  // Invalid client credentials", keycloak/keycloak#49625) and a client without service accounts
  // with 400 `unauthorized_client`: the 401 is an authentication failure like `invalid_client`.
  if (code === 'invalid_client' || (code === 'unauthorized_client' && status === 401)) {
    return new InvalidClientError(message, options);
  }
  if (code === 'invalid_grant') return new InvalidGrantError(message, options);
  if (code === 'temporarily_unavailable' || code === 'server_error') {
    return new UpstreamUnavailableError(message, { upstreamStatus: status, retryAfterMs });
  }
  if (CONFIGURATION_ERRORS.has(code)) return new ConfigurationError(message);
  return new UpstreamRejectedError(message, options);
}
