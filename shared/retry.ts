import type { Clock, Random, Sleep } from './clock';
import { UpstreamUnavailableError } from './errors';
import { boundedRetryAfterMs } from './retry-after';

/** How {@link withRetry} paces and bounds its attempts. */
export interface RetryOptions {
  /** Epoch ms after which no attempt is started. */
  readonly deadline: number;
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly random: Random;
  /** @default 4 */
  readonly maxAttempts?: number;
  /** @default 100 */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
  /** The least time an attempt needs to be worth starting. @default 100 */
  readonly minAttemptMs?: number;
  readonly onRetry?: (error: UpstreamUnavailableError, attempt: number, delayMs: number) => void;
}

export function isRetryable(error: unknown): error is UpstreamUnavailableError {
  return error instanceof UpstreamUnavailableError && error.retryable;
}

/**
 * The delay before attempt `attempt + 1`, before the deadline is considered: full jitter, or the
 * upstream's `Retry-After` when longer, never more than the broker's own bound on it (120 s).
 */
export function backoffDelay(
  attempt: number,
  error: UpstreamUnavailableError,
  options: Pick<RetryOptions, 'random' | 'baseDelayMs' | 'maxDelayMs'>,
): number {
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 2000;
  const jittered = Math.floor(options.random() * Math.min(cap, base * 2 ** (attempt - 1)));
  return Math.max(jittered, boundedRetryAfterMs(error.retryAfterMs) ?? 0);
}

/**
 * Runs `attempt` with capped exponential backoff and full jitter, honouring `Retry-After`, inside
 * a deadline (docs/design.md "Retries"). Only errors marked retryable (network errors, timeouts,
 * 5xx, 429, `temporarily_unavailable`) are retried; everything else is thrown at once.
 *
 * @returns the first successful attempt's result
 * @throws the last attempt's error, or the first one that is not retryable
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 4;
  const minAttemptMs = options.minAttemptMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetryable(error) || attempt >= maxAttempts) throw error;
      const delay = backoffDelay(attempt, error, options);
      // A Retry-After beyond our budget: give up now and let the caller pass it on.
      if (options.clock.now() + delay + minAttemptMs > options.deadline) throw error;
      options.onRetry?.(error, attempt, delay);
      await options.sleep(delay);
    }
  }
}
