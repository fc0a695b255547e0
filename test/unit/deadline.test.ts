import { AFTERWARDS_MS, afterwards, startDeadline } from '../../shared/deadline';
import { ManualClock } from '../support/fakes';

describe('afterwards: a deadline of its own for what follows the work', () => {
  it('is not aborted by the work having run out its deadline', async () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    parent.abort();
    const work = startDeadline(clock.now() + 10, clock, parent.signal);
    try {
      expect(work.signal.aborted).toBe(true);
      await expect(afterwards(work.invocation, clock, async (signal) => signal.aborted)).resolves.toBe(false);
    } finally {
      work.dispose();
    }
  });

  it('ends AFTERWARDS_MS later at most', async () => {
    const clock = new ManualClock();
    expect(AFTERWARDS_MS).toBe(1_000);
    const seen = await afterwards(undefined, clock, async (signal) => {
      // The timer runs on real time; the deadline it was set for is the clock's now + AFTERWARDS_MS.
      return new Promise<unknown>((resolve) =>
        signal.addEventListener('abort', () => resolve(signal.reason)),
      );
    });
    expect(seen).toMatchObject({
      name: 'DeadlineExceededError',
      message: `deadline of ${new Date(clock.now() + AFTERWARDS_MS).toISOString()} passed`,
    });
  });

  it('aborts when the invocation is cut short, and deadlines started inside pass the invocation on', async () => {
    const clock = new ManualClock();
    const invocation = new AbortController();
    const work = startDeadline(clock.now() + 100, clock, invocation.signal, invocation.signal);
    const inner = startDeadline(clock.now() + 50, clock, work.signal, work.invocation);
    try {
      expect(inner.invocation).toBe(invocation.signal);
      const after = afterwards(inner.invocation, clock, (signal) => {
        invocation.abort(new Error('middy timeout'));
        return Promise.resolve(signal.aborted);
      });
      await expect(after).resolves.toBe(true);
    } finally {
      inner.dispose();
      work.dispose();
    }
  });
});
