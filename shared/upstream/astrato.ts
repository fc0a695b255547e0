import type { Clock } from '../clock';
import { InvalidClientError, UpstreamRejectedError, UpstreamTokenRejectedError } from '../errors';
import type { Log } from '../logging/ports';
import { checkedExpiresIn, tokenExpiry } from '../tokens/expiry';
import type { TokenProvider, TokenRequest } from '../tokens/ports';
import type { CachedToken } from '../tokens/token';
import { type FetchFn, readJsonObject, unexpectedAnswer, upstreamFetch } from './http';

const CHECK_BASE_URL =
  'the connection baseUrl: the tenant root (e.g. https://app.astrato.io), to which the broker adds /auth/proxy/m2m/token and /oem/setup';

/** What an {@link AstratoClient} needs to reach one tenant. */
export interface AstratoClientOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch?: FetchFn;
  /** Lifetime assumed when `expires_in` is missing or absurd. The vendor documents 10 minutes. @default 300 */
  readonly defaultLifetimeSeconds?: number;
}

/**
 * Who the ticket is for. `groupIds` and `groupNames` apply to that session only; a new user with
 * neither has no permissions.
 * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
 */
export interface EmbedUser {
  readonly email: string;
  readonly name?: string;
  readonly groupIds?: readonly string[];
  readonly groupNames?: readonly string[];
}

/**
 * Astrato's OEM API for one tenant (docs/design.md "Upstreams", `astrato-oem`): the m2m token call,
 * as the token provider of the connection, and `/oem/setup`, which turns a user into a one-time
 * ticket.
 * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
 */
export class AstratoClient implements TokenProvider {
  constructor(private readonly options: AstratoClientOptions) {}

  async requestToken(request: TokenRequest): Promise<CachedToken> {
    const { clock } = this.options;
    const url = `${this.options.baseUrl}/auth/proxy/m2m/token`;
    const response = await upstreamFetch(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({
          clientId: request.credentials.clientId,
          clientSecret: request.credentials.clientSecret,
        }),
      },
      this.callOptions('astrato m2m token', request.deadline),
    );
    if (response.status === 401 || response.status === 403) {
      throw new InvalidClientError(`astrato m2m token: client credentials refused (${response.status})`, {
        upstreamStatus: response.status,
      });
    }
    if (response.status !== 200 && response.status !== 201) {
      this.options.log.error('astrato m2m token: unexpected answer', {
        connection: request.connection,
        ...unexpectedAnswer(response, url, CHECK_BASE_URL),
      });
      throw new UpstreamRejectedError(`astrato m2m token: unexpected status ${response.status}`, {
        upstreamStatus: response.status,
      });
    }
    const body = await readJsonObject(response);
    const accessToken = body?.access_token;
    if (typeof accessToken !== 'string' || accessToken.length === 0) {
      this.options.log.error('astrato m2m token: the answer has no access_token', {
        connection: request.connection,
        ...unexpectedAnswer(response, url, CHECK_BASE_URL),
      });
      throw new UpstreamRejectedError('astrato m2m token: response has no access_token', {
        upstreamStatus: response.status,
      });
    }
    let expiresIn: number | undefined;
    try {
      expiresIn = checkedExpiresIn(body?.expires_in, 'astrato m2m token');
    } catch (error) {
      this.options.log.error('astrato m2m token: the answer has an unusable expires_in', {
        connection: request.connection,
        ...unexpectedAnswer(response, url, CHECK_BASE_URL),
      });
      throw error;
    }
    const obtainedAt = clock.now();
    const expiresAt = tokenExpiry(expiresIn, obtainedAt, {
      what: 'astrato m2m token',
      connection: request.connection,
      log: this.options.log,
      defaultLifetimeSeconds: this.options.defaultLifetimeSeconds ?? 300,
    });
    return {
      connection: request.connection,
      accessToken,
      tokenType: 'Bearer',
      expiresAt,
      obtainedAt,
      secretVersion: request.credentials.versionId,
    };
  }

  /**
   * Creates (or reuses) the user and returns a one-time ticket id.
   * @throws UpstreamTokenRejectedError on 401: the caller drops the token, renews it and retries once
   */
  async setup(accessToken: string, user: EmbedUser, deadline: number): Promise<{ ticketId: string }> {
    const payload: Record<string, unknown> = { email: user.email };
    if (user.name !== undefined) payload.name = user.name;
    if (user.groupIds !== undefined) payload.groupIds = user.groupIds;
    if (user.groupNames !== undefined) payload.groupNames = user.groupNames;
    const url = `${this.options.baseUrl}/oem/setup`;
    const response = await upstreamFetch(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${accessToken}`,
        },
        body: JSON.stringify(payload),
      },
      this.callOptions('astrato oem setup', deadline),
    );
    if (response.status === 401) {
      throw new UpstreamTokenRejectedError('astrato oem setup: access token refused (401)', {
        upstreamStatus: 401,
      });
    }
    if (response.status < 200 || response.status > 299) {
      this.options.log.error(
        'astrato oem setup: unexpected answer',
        unexpectedAnswer(response, url, CHECK_BASE_URL),
      );
      throw new UpstreamRejectedError(`astrato oem setup: refused with status ${response.status}`, {
        upstreamStatus: response.status,
      });
    }
    const body = await readJsonObject(response);
    const ticket = body?.ticket;
    // Unreserved characters only, and never a dot-segment: the id goes into the ticket URL's path.
    if (typeof ticket !== 'string' || !/^[A-Za-z0-9._~-]{1,512}$/.test(ticket) || /^\.{1,2}$/.test(ticket)) {
      this.options.log.error(
        'astrato oem setup: the answer has no usable ticket',
        unexpectedAnswer(response, url, CHECK_BASE_URL),
      );
      throw new UpstreamRejectedError('astrato oem setup: response has no usable ticket', {
        upstreamStatus: response.status,
      });
    }
    return { ticketId: ticket };
  }

  private callOptions(what: string, deadline: number) {
    return {
      what,
      timeoutMs: this.options.timeoutMs,
      deadline,
      clock: this.options.clock,
      log: this.options.log,
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    };
  }
}
