import type { Clock } from '../clock';
import { afterwards } from '../deadline';
import type { Telemetry } from '../logging/ports';
import type { TokenAcceptance, TokenReader } from './acceptance';
import type { LeaseCoordinator } from './lease-coordinator';
import type { ResilientStores } from './resilient-stores';
import type { CachedToken } from './token';
import type { TokenAcquirer } from './token-acquirer';

/**
 * Where a request's token came from. `acquired` and `waited` mean the request waited for a token
 * endpoint (its own call, or another process's under the lease): the refresher exists so that
 * requests see only `l1` and `l2`.
 */
export type TokenOrigin = 'l1' | 'l2' | 'acquired' | 'waited';

export interface TokenResult {
  readonly token: CachedToken;
  readonly origin: TokenOrigin;
}

/** One load of a connection's token, for a reader that memory could not serve. */
export interface LoadRequest {
  readonly connection: string;
  readonly secretId: string;
  /** Who asks: a request or the refresher. It names the rule the tokens found are judged by. */
  readonly reader: TokenReader;
  /** Epoch ms by which the load must end. */
  readonly deadline: number;
  /** Aborts at the deadline: every store call of the load gets it. */
  readonly signal: AbortSignal;
  /**
   * Aborts where the invocation ends (the deadline's `invocation`): what must still happen once the
   * deadline has passed (the lease given back, an acquired token written) runs until then at most.
   */
  readonly invocation: AbortSignal | undefined;
  /** What this process's memory holds for the connection, if anything. */
  readonly remembered: CachedToken | undefined;
}

export interface TokenLoaderDeps {
  readonly stores: ResilientStores;
  readonly acceptance: TokenAcceptance;
  readonly lease: LeaseCoordinator;
  readonly acquirer: TokenAcquirer;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
}

/**
 * The table (L2) first; if it holds nothing the rule accepts, an acquisition under the
 * cross-process lease; without a table, a direct acquisition (degraded mode).
 */
export class TokenLoader {
  constructor(private readonly deps: TokenLoaderDeps) {}

  async load(request: LoadRequest): Promise<TokenResult> {
    const { connection, secretId, reader, remembered, signal } = request;
    const { stores, acceptance, telemetry } = this.deps;
    const read = await stores.readToken(connection, signal);
    if (!read.available) {
      // Without the table, a token still in memory serves a request before any acquisition does.
      if (reader === 'request' && remembered && acceptance.accepts(remembered, secretId, reader)) {
        return { token: remembered, origin: 'l1' };
      }
      return this.acquireDirect(request, remembered);
    }
    const stored = read.token;
    if (stored && (await acceptance.acceptsAfterVersionCheck(stored, secretId, reader, signal))) {
      telemetry.count('TokenCacheHitL2');
      return { token: stored, origin: 'l2' };
    }
    // A miss is a request that waits for a token endpoint; the refresher's renewals are its job.
    if (reader === 'request') telemetry.count('TokenCacheMiss');
    return this.acquireUnderLease(request, stored ?? remembered);
  }

  /** Cross-process single flight: hold the lease and acquire, or take the holder's token. */
  private async acquireUnderLease(
    request: LoadRequest,
    replacing: CachedToken | undefined,
  ): Promise<TokenResult> {
    const { connection, secretId, reader, deadline, signal, invocation } = request;
    const { stores, acceptance, lease, acquirer, clock } = this.deps;
    let previous = replacing;
    const lookForToken = async () => {
      const read = await stores.readToken(connection, signal);
      if (!read.available) return 'unavailable' as const;
      if (read.token && (await acceptance.acceptsAfterVersionCheck(read.token, secretId, reader, signal)))
        return read.token;
      previous = read.token ?? previous;
      return undefined;
    };
    const wait = await lease.acquireOrWait(connection, deadline, signal, lookForToken);
    if (wait.outcome === 'unavailable') return this.acquireDirect(request, previous);
    if (wait.outcome === 'found') return { token: wait.token, origin: 'waited' };
    return lease.holdWhile(connection, signal, invocation, async () => {
      // Another holder may have finished between our last read and our lease.
      const found = await lookForToken();
      if (found && found !== 'unavailable') return { token: found, origin: wait.waited ? 'waited' : 'l2' };
      const token = await acquirer.acquire({ connection, secretId, deadline, signal, previous });
      // A token acquired as the deadline ends must still reach the table: the processes waiting
      // under the lease look for it there, and the next request would otherwise acquire again.
      await afterwards(invocation, clock, (write) => stores.writeToken(token, write));
      return { token, origin: 'acquired' };
    });
  }

  /** Degraded mode (no table): still one call per process, thanks to the in-process single flight. */
  private async acquireDirect(request: LoadRequest, previous: CachedToken | undefined): Promise<TokenResult> {
    const { connection, secretId, deadline, signal } = request;
    const token = await this.deps.acquirer.acquire({ connection, secretId, deadline, signal, previous });
    return { token, origin: 'acquired' };
  }
}
