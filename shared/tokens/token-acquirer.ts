import type { Clock, Random, Sleep } from '../clock';
import { ConfigurationError, describeError, InvalidClientError } from '../errors';
import type { Log, Telemetry } from '../logging/ports';
import type { SensitiveValues } from '../logging/redaction';
import { withRetry } from '../retry';
import type { SecretStore, TokenProvider } from './ports';
import type { CachedToken, ClientCredentials } from './token';

export interface TokenAcquirerDeps {
  /** The provider (one token-endpoint attempt) of each connection. */
  readonly providers: Readonly<Record<string, TokenProvider>>;
  readonly secrets: SecretStore;
  /** Every secret and token read here is registered, so no log line can show it. */
  readonly sensitive: SensitiveValues;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: Random;
  readonly log: Log;
  readonly telemetry: Telemetry;
}

/** What one acquisition needs to know about its connection. */
export interface AcquisitionRequest {
  readonly connection: string;
  readonly secretId: string;
  /** Epoch ms by which the whole acquisition, retries included, must end. */
  readonly deadline: number;
  /** Aborts at the deadline: the secret reads get it. */
  readonly signal: AbortSignal;
  /** The token being replaced, if any: its refresh token may be used. */
  readonly previous: CachedToken | undefined;
}

/**
 * One credentialed acquisition at a token endpoint: read the client secret, call the provider with
 * retries, and on `invalid_client` re-read the secret once (it may have been rotated) before failing
 * loudly as a configuration error (docs/design.md "Invalidation and secrets").
 */
export class TokenAcquirer {
  constructor(private readonly deps: TokenAcquirerDeps) {}

  /** @throws ConfigurationError when upstream refuses the current credentials */
  async acquire(request: AcquisitionRequest): Promise<CachedToken> {
    const { connection } = request;
    const { clock, telemetry, log } = this.deps;
    const provider = this.deps.providers[connection];
    if (!provider) throw new ConfigurationError(`connection ${connection}: no provider configured`);
    const started = clock.now();
    try {
      const token = await this.withCurrentCredentials(request, provider);
      this.deps.sensitive.register(token.accessToken);
      this.deps.sensitive.register(token.refreshToken);
      // No connection dimension: a healthy connection adds no series of its own (the
      // connection is in the log line below). A failure below keeps its connection.
      telemetry.count('TokenAcquired');
      telemetry.timing('TokenAcquireLatency', clock.now() - started);
      log.info('token acquired', {
        connection,
        expiresAt: new Date(token.expiresAt).toISOString(),
        lifetimeSeconds: Math.round((token.expiresAt - token.obtainedAt) / 1000),
        refreshTokenIssued: token.refreshToken !== undefined,
        durationMs: clock.now() - started,
      });
      return token;
    } catch (error) {
      telemetry.count('TokenAcquireFailed', 1, { connection });
      log.warn('token acquisition failed', { connection, error: describeError(error) });
      throw error;
    }
  }

  /** The provider call with the cached secret; on `invalid_client`, once more with a newer version. */
  private async withCurrentCredentials(
    request: AcquisitionRequest,
    provider: TokenProvider,
  ): Promise<CachedToken> {
    const { connection, secretId, signal } = request;
    const credentials = await this.credentials(secretId, signal);
    try {
      return await this.attempt(request, provider, credentials);
    } catch (error) {
      if (!(error instanceof InvalidClientError)) throw error;
      const reread = await this.credentials(secretId, signal, true);
      if (reread.versionId === credentials.versionId) throw this.misconfigured(connection, error);
      this.deps.log.info('client credentials refused; retrying once with the newer secret version', {
        connection,
      });
      return this.attempt(request, provider, reread).catch((second: unknown) => {
        throw second instanceof InvalidClientError ? this.misconfigured(connection, second) : second;
      });
    }
  }

  private async credentials(
    secretId: string,
    signal: AbortSignal,
    refresh = false,
  ): Promise<ClientCredentials> {
    const credentials = await this.deps.secrets.get(secretId, { signal, ...(refresh ? { refresh } : {}) });
    this.deps.sensitive.register(credentials.clientSecret);
    return credentials;
  }

  /** Provider attempts with backoff, inside the deadline. */
  private attempt(
    request: AcquisitionRequest,
    provider: TokenProvider,
    credentials: ClientCredentials,
  ): Promise<CachedToken> {
    const { connection, deadline, previous } = request;
    return withRetry(
      () => provider.requestToken({ connection, credentials, deadline, ...(previous ? { previous } : {}) }),
      {
        deadline,
        clock: this.deps.clock,
        sleep: this.deps.sleep,
        random: this.deps.random,
        onRetry: (error, attempt, delayMs) =>
          this.deps.log.warn('token endpoint attempt failed, retrying', {
            connection,
            attempt,
            delayMs,
            error: describeError(error),
          }),
      },
    );
  }

  private misconfigured(connection: string, cause: InvalidClientError): ConfigurationError {
    this.deps.log.error('upstream refuses the client credentials (invalid_client): fix the secret', {
      connection,
      upstreamStatus: cause.upstreamStatus,
    });
    return new ConfigurationError(`connection ${connection}: upstream refuses the client credentials`, {
      cause,
    });
  }
}
