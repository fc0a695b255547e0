import type { Clock } from '../clock';

/**
 * A token bucket: `burst` reads at once, refilled at `perSecond`. It rations the table reads that
 * key ids this container has never verified can cause, so made-up keys cannot buy a read each.
 * @see https://en.wikipedia.org/wiki/Token_bucket
 */
export class ReadBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly options: { readonly clock: Clock; readonly perSecond: number; readonly burst: number },
  ) {
    this.tokens = options.burst;
    this.at = options.clock.now();
  }

  /** Takes one read if the budget has one; `false` leaves the budget as it was. */
  take(): boolean {
    const now = this.options.clock.now();
    const refill = (Math.max(0, now - this.at) / 1000) * this.options.perSecond;
    this.tokens = Math.min(this.options.burst, this.tokens + refill);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
