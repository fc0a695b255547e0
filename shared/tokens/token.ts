/**
 * The one normalized token shape every provider returns and every cache stores.
 * All instants are epoch milliseconds.
 */
export interface CachedToken {
  readonly connection: string;
  readonly accessToken: string;
  /** As the upstream spelled it, e.g. `Bearer`. */
  readonly tokenType: string;
  readonly expiresAt: number;
  readonly obtainedAt: number;
  readonly refreshToken?: string;
  /** When the refresh token stops being usable; absent when none was issued or it never expires. */
  readonly refreshExpiresAt?: number;
  readonly scope?: string;
  /** Secrets Manager version id of the client secret the token was minted with. */
  readonly secretVersion: string;
}

/** Client credentials as stored in Secrets Manager, with the version they were read at. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly versionId: string;
}
