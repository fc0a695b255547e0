import type { CachedToken, ClientCredentials } from './token';

/**
 * Narrow ports the token engine owns. Adapters (DynamoDB, Secrets Manager, HTTP) implement them;
 * tests use small in-memory fakes. Every operation that does I/O takes the signal of the work it
 * serves (a request's or a refresher run's deadline): an adapter hands it to its SDK call, so no
 * call outlives its deadline (docs/design.md "Hanging dependencies"). How every part logs and
 * counts is not the engine's to own: `Log` and `Telemetry` are in `shared/logging/ports.ts`.
 */

/** The shared cache (L2): one item per connection. */
export interface TokenCache {
  /**
   * Consistent read. Returns the stored token while it is still of some use (its access token or
   * its refresh token has not expired); `undefined` otherwise. Expiry is checked here, never left
   * to the table's TTL.
   */
  read(connection: string, signal: AbortSignal): Promise<CachedToken | undefined>;
  /** Stores the token unless a newer one is already there. Resolves whether it was written. */
  write(token: CachedToken, signal: AbortSignal): Promise<boolean>;
  /** Drops the item if it still holds this access token (a newer token is left alone). */
  remove(connection: string, accessToken: string, signal: AbortSignal): Promise<void>;
}

export type LeaseResult = { readonly acquired: true } | { readonly acquired: false };

/** The cross-process acquisition lease: one holder per connection at a time. */
export interface LeaseStore {
  /**
   * Takes the lease when it is free, expired, or already held by `owner` (a holder that is known
   * dead: the same owner can only ask again after its own attempt ended).
   */
  tryAcquire(
    connection: string,
    owner: string,
    durationMs: number,
    signal: AbortSignal,
  ): Promise<LeaseResult>;
  /** Gives the lease back if `owner` still holds it. */
  release(connection: string, owner: string, signal: AbortSignal): Promise<void>;
}

export interface SecretReadOptions {
  /** Bypass the cache: read the current version now (rotation check, `invalid_client`). */
  readonly refresh?: boolean;
  /** The deadline of the work the read serves. */
  readonly signal: AbortSignal;
}

/** Client secrets, as stored in Secrets Manager, one secret per connection. */
export interface SecretStore {
  get(secretId: string, options: SecretReadOptions): Promise<ClientCredentials>;
  /** The newest version id this process has seen, without any I/O. */
  knownVersion(secretId: string): string | undefined;
  /**
   * Whether this process has seen `version` replaced by a newer one, without any I/O: a token
   * minted with it is older than the secret, and reading the secret again would tell nothing new.
   */
  isSuperseded(secretId: string, version: string): boolean;
}

export interface TokenRequest {
  readonly connection: string;
  readonly credentials: ClientCredentials;
  /** The token being replaced, if any: its refresh token may be used. */
  readonly previous?: CachedToken;
  /** Epoch ms by which the attempt must end. */
  readonly deadline: number;
}

/** One attempt at a token endpoint. Errors are the classified errors of `../errors`. */
export interface TokenProvider {
  requestToken(request: TokenRequest): Promise<CachedToken>;
}
