import type { Clock } from '../clock';
import { logDependencyFailure } from '../dependency-guard';
import type { Log } from '../logging/ports';
import type { SecretStore } from './ports';
import { isUsable, type RefreshPolicy, tokenState } from './refresh-policy';
import type { CachedToken } from './token';

/**
 * Who reads a token, which decides the rule it is judged by: a `request` takes any token that is
 * still usable, even one due for refresh (it never waits for a renewal); the `refresher` leaves
 * alone only a token that is not yet due, and renews anything else.
 */
export type TokenReader = 'request' | 'refresher';

/** Each reader's rule, judged on the token's windows alone (docs/design.md "Windows"). */
const RULES: Record<TokenReader, (token: CachedToken, now: number, policy: RefreshPolicy) => boolean> = {
  request: isUsable,
  refresher: (token, now, policy) => tokenState(token, now, policy) === 'fresh',
};

export interface TokenAcceptanceDeps {
  readonly secrets: SecretStore;
  readonly policy: RefreshPolicy;
  readonly clock: Clock;
  readonly log: Log;
}

/**
 * Whether a stored token may serve: the rule's windows, and the token must have been minted with
 * the newest secret version this process has seen (docs/design.md "Invalidation and secrets").
 */
export class TokenAcceptance {
  constructor(private readonly deps: TokenAcceptanceDeps) {}

  accepts(token: CachedToken, secretId: string, reader: TokenReader, now = this.deps.clock.now()): boolean {
    const version = this.deps.secrets.knownVersion(secretId);
    if (version !== undefined && token.secretVersion !== version) return false;
    return RULES[reader](token, now, this.deps.policy);
  }

  /**
   * As `accepts`, but a token from another process that names a different secret version than the
   * one this process knows makes it re-read the secret once, to learn which version is current,
   * unless that version is one this process has seen replaced (the token is then simply older).
   */
  async acceptsAfterVersionCheck(
    token: CachedToken,
    secretId: string,
    reader: TokenReader,
    signal: AbortSignal,
  ): Promise<boolean> {
    if (this.accepts(token, secretId, reader)) return true;
    const version = this.deps.secrets.knownVersion(secretId);
    if (version === undefined || token.secretVersion === version) return false;
    // Minted with a version this process saw replaced: older, refused without a read.
    if (this.deps.secrets.isSuperseded(secretId, token.secretVersion)) return false;
    try {
      await this.deps.secrets.get(secretId, { refresh: true, signal });
    } catch (error) {
      logDependencyFailure(
        this.deps.log,
        'secret version check failed',
        { connection: token.connection },
        error,
      );
      return false;
    }
    return this.accepts(token, secretId, reader);
  }
}
