import { InvalidClientError, UpstreamRejectedError, UpstreamUnavailableError } from '../../shared/errors';
import { backoffDelay, withRetry } from '../../shared/retry';
import { ManualClock } from '../support/fakes';

function options(clock: ManualClock, budgetMs = 10_000, random = () => 1) {
  const sleeps: number[] = [];
  return {
    sleeps,
    options: {
      deadline: clock.now() + budgetMs,
      clock,
      random,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
    },
  };
}

describe('withRetry', () => {
  it('retries retryable failures with capped exponential backoff, then succeeds', async () => {
    const clock = new ManualClock();
    const { sleeps, options: opts } = options(clock);
    let calls = 0;
    const result = await withRetry(async () => {
      calls++;
      if (calls < 4) throw new UpstreamUnavailableError('503');
      return 'ok';
    }, opts);
    expect(result).toBe('ok');
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('applies full jitter', () => {
    const error = new UpstreamUnavailableError('503');
    expect(backoffDelay(3, error, { random: () => 0.5 })).toBe(200);
    expect(backoffDelay(10, error, { random: () => 0.999 })).toBe(1998);
  });

  it('honours Retry-After when it is longer than the backoff', async () => {
    const clock = new ManualClock();
    const { sleeps, options: opts } = options(clock);
    let calls = 0;
    await withRetry(async () => {
      calls++;
      if (calls === 1) throw new UpstreamUnavailableError('429', { retryAfterMs: 1500, upstreamStatus: 429 });
      return 'ok';
    }, opts);
    expect(sleeps).toEqual([1500]);
  });

  it('gives up at once when Retry-After is beyond the budget, keeping the hint for the caller', async () => {
    const clock = new ManualClock();
    const { sleeps, options: opts } = options(clock, 2_000);
    const error = new UpstreamUnavailableError('503', { retryAfterMs: 30_000 });
    await expect(withRetry(async () => Promise.reject(error), opts)).rejects.toBe(error);
    expect(sleeps).toEqual([]);
  });

  it('stops after maxAttempts', async () => {
    const clock = new ManualClock();
    const { options: opts } = options(clock);
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new UpstreamUnavailableError('timeout', { timeout: true });
        },
        { ...opts, maxAttempts: 3 },
      ),
    ).rejects.toThrow('timeout');
    expect(calls).toBe(3);
  });

  it.each([
    ['a rejection', new UpstreamRejectedError('400')],
    ['invalid_client', new InvalidClientError('invalid_client')],
    ['a non-retryable unavailability', new UpstreamUnavailableError('lease wait', { retryable: false })],
    ['a plain error', new Error('bug')],
  ])('never retries %s', async (_label, error) => {
    const clock = new ManualClock();
    const { options: opts } = options(clock);
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw error;
      }, opts),
    ).rejects.toBe(error);
    expect(calls).toBe(1);
  });
});
