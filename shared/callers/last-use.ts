import type { Clock } from '../clock';
import { logDependencyFailure } from '../dependency-guard';
import type { Log } from '../logging/ports';
import type { LastUseWriter } from './caller';

/** How often one execution environment records a key's use, at most. @see LastUseRecorder */
export const LAST_USE_WRITE_INTERVAL_MS = 5 * 60_000;

/**
 * Records when caller keys are used without a table write per request: each execution environment
 * writes a key's `lastused#` item at most once per `intervalMs` (5 minutes), so a key's last use is
 * known to within that, and the cost is at most one write per key per environment per interval,
 * whatever the traffic. The interval counts from the attempt, so a failing table is not retried on
 * every request either. Entries are bounded (`maxKeys`, oldest out first).
 */
export class LastUseRecorder {
  private readonly written = new Map<string, number>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;

  constructor(
    private readonly options: {
      readonly store: LastUseWriter;
      readonly clock: Clock;
      readonly log: Log;
      /** @default LAST_USE_WRITE_INTERVAL_MS */
      readonly intervalMs?: number;
      /** @default 1000, as many as the authenticator keeps verified keys */
      readonly maxKeys?: number;
    },
  ) {
    this.intervalMs = options.intervalMs ?? LAST_USE_WRITE_INTERVAL_MS;
    this.maxKeys = options.maxKeys ?? 1000;
  }

  /**
   * Notes a use of `keyId` now. Resolves once any write it started has finished (at once when the
   * interval has not passed); never rejects: a failed write is logged, the request goes on.
   */
  async touch(keyId: string, signal: AbortSignal): Promise<void> {
    const now = this.options.clock.now();
    const last = this.written.get(keyId);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.written.delete(keyId);
    this.written.set(keyId, now);
    while (this.written.size > this.maxKeys) {
      const oldest = this.written.keys().next().value;
      if (oldest === undefined) break;
      this.written.delete(oldest);
    }
    try {
      await this.options.store.record(keyId, now, signal);
    } catch (error) {
      logDependencyFailure(
        this.options.log,
        'last use of a caller key not recorded',
        { caller: keyId },
        error,
      );
    }
  }
}
