import type { Clock, Sleep } from '../clock';
import { afterwards } from '../deadline';
import { UpstreamUnavailableError } from '../errors';
import type { Telemetry } from '../logging/ports';
import type { ResilientStores } from './resilient-stores';
import type { CachedToken } from './token';

/** Timing of the cross-process acquisition lease (docs/design.md "Single flight"). */
export const LEASE_TIMING = {
  /** How long a lease holds without a heartbeat: a holder that died is noticed within this. */
  leaseMs: 5_000,
  /** The holder extends its lease this many times per lease period while it works. */
  heartbeatsPerLease: 3,
  /** Never beat more often than this, whatever the lease length. */
  minHeartbeatMs: 50,
  /** A waiter's first pause before looking at the table again ... */
  firstPollMs: 20,
  /** ... growing by this factor after each look ... */
  pollGrowth: 1.5,
  /** ... up to this. */
  maxPollMs: 250,
  /** What a waiter that ran out of time tells its caller to wait before retrying. */
  retryAfterMs: 1_000,
} as const;

/**
 * What waiting for another holder turned up: its token, or nothing yet, or a table that could not
 * be read (the caller then acquires on its own).
 */
export type TokenLookup = CachedToken | undefined | 'unavailable';

/** How `acquireOrWait` ended. */
export type LeaseWait =
  | { readonly outcome: 'holding'; readonly waited: boolean }
  | { readonly outcome: 'found'; readonly token: CachedToken }
  | { readonly outcome: 'unavailable' };

export interface LeaseCoordinatorDeps {
  readonly stores: ResilientStores;
  /** Identifies this process in leases. */
  readonly ownerId: string;
  /** @default LEASE_TIMING.leaseMs */
  readonly leaseMs?: number;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly telemetry: Telemetry;
}

/**
 * Cross-process single flight: one process per connection holds the lease and calls the token
 * endpoint; the others wait for its token, and take the lease over if it lapses (its holder died).
 */
export class LeaseCoordinator {
  readonly leaseMs: number;

  constructor(private readonly deps: LeaseCoordinatorDeps) {
    this.leaseMs = deps.leaseMs ?? LEASE_TIMING.leaseMs;
  }

  /**
   * Takes the connection's lease, or waits: between attempts it calls `lookForToken`, which
   * returns the holder's token once it is there. Ends holding the lease, with the holder's token,
   * or `unavailable` when the lease store or the table cannot be reached.
   * @throws UpstreamUnavailableError when the deadline passes while another process holds the lease
   */
  async acquireOrWait(
    connection: string,
    deadline: number,
    signal: AbortSignal,
    lookForToken: () => Promise<TokenLookup>,
  ): Promise<LeaseWait> {
    const { clock, stores, telemetry } = this.deps;
    const waitStarted = clock.now();
    let pollMs: number = LEASE_TIMING.firstPollMs;
    for (let waited = false; ; waited = true) {
      const attempt = await stores.tryLease(connection, this.deps.ownerId, this.leaseMs, signal);
      if (attempt === 'unavailable') return { outcome: 'unavailable' };
      if (attempt === 'acquired') return { outcome: 'holding', waited };
      if (deadline - clock.now() <= pollMs) {
        telemetry.count('TokenLeaseWaitTimeout');
        throw new UpstreamUnavailableError(
          `connection ${connection}: another process is acquiring a token and did not finish in time`,
          { retryable: false, retryAfterMs: LEASE_TIMING.retryAfterMs },
        );
      }
      await this.deps.sleep(pollMs);
      pollMs = Math.min(LEASE_TIMING.maxPollMs, Math.ceil(pollMs * LEASE_TIMING.pollGrowth));
      const found = await lookForToken();
      if (found === 'unavailable') return { outcome: 'unavailable' };
      if (found) {
        telemetry.timing('TokenLeaseWait', clock.now() - waitStarted);
        return { outcome: 'found', token: found };
      }
    }
  }

  /**
   * Runs `work` while holding the lease: a heartbeat keeps it alive, so only a holder that died lets
   * it lapse, and the lease is given back when the work ends, however it ends. The heartbeats stop
   * when `signal` (the work's deadline) aborts: a beat then could not reach the table, and would
   * only count as a degraded lease store.
   * @param invocation aborts where the invocation ends: the release gets a deadline of its own
   *   within it
   */
  async holdWhile<T>(
    connection: string,
    signal: AbortSignal,
    invocation: AbortSignal | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    const { stores, ownerId, clock } = this.deps;
    const beat = setInterval(
      () => void stores.tryLease(connection, ownerId, this.leaseMs, signal, 'heartbeat'),
      Math.max(LEASE_TIMING.minHeartbeatMs, Math.floor(this.leaseMs / LEASE_TIMING.heartbeatsPerLease)),
    );
    beat.unref();
    const stopBeating = () => clearInterval(beat);
    signal.addEventListener('abort', stopBeating, { once: true });
    try {
      return await work();
    } finally {
      stopBeating();
      signal.removeEventListener('abort', stopBeating);
      // Give the lease back even when the work ran out its deadline (its signal has aborted then):
      // a lease left behind would make every other process wait for it to lapse.
      await afterwards(invocation, clock, (release) => stores.releaseLease(connection, ownerId, release));
    }
  }
}
