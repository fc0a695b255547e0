import type { CachedToken } from './token';
import { type GetOptions, type TokenOrigin, TokenSource } from './token-source';

/** What `refreshDue` did; a token it left or made usable is also where it came from. */
export type RefreshOutcome =
  | {
      readonly connection: string;
      readonly action: 'fresh' | 'renewed';
      readonly token: CachedToken;
      readonly origin: TokenOrigin;
    }
  | {
      readonly connection: string;
      readonly action: 'failed';
      readonly error: Error;
      readonly token?: CachedToken;
    };

/**
 * The token source as the scheduled refresher uses it: what requests use, plus `refreshDue`,
 * which renews a token before requests would need a new one (docs/design.md "Token lifecycle").
 * A subclass in a module of its own, as the operators' adapters extend the request-side ones: the
 * API function's bundle carries none of the refresher's code.
 */
export class RefreshingTokenSource extends TokenSource {
  /**
   * Renews the connection's token if it is due, expired, missing, or minted with an older secret;
   * leaves a fresh one alone. Runs under the same lease as requests, so it never races them.
   */
  async refreshDue(connection: string, options: GetOptions = {}): Promise<RefreshOutcome> {
    const { secretId } = this.connection(connection);
    let stored: CachedToken | undefined;
    try {
      return await this.within(options.deadline, async ({ at, signal, invocation }) => {
        // The secret as this process holds it: the store reads it again only once its value is
        // older than the store's age limit, which in the refresher is the rotation check
        // (SECRET_CHECK_MINUTES). A run where nothing is due costs no read; a new version seen
        // here makes every token minted with the older one due (acceptance.ts).
        await this.deps.secrets.get(secretId, { signal });
        const read = await this.stores.readToken(connection, signal);
        stored = read.available ? read.token : undefined;
        if (stored && this.acceptance.accepts(stored, secretId, 'refresher')) {
          this.remember(stored);
          return { connection, action: 'fresh', token: stored, origin: 'l2' };
        }
        const remembered = this.memory.get(connection)?.token;
        const result = await this.load({
          connection,
          secretId,
          reader: 'refresher',
          deadline: at,
          signal,
          invocation,
          remembered,
        });
        return { connection, action: 'renewed', ...result };
      });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      return { connection, action: 'failed', error: failure, ...(stored ? { token: stored } : {}) };
    }
  }
}
