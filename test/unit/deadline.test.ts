import { AFTERWARDS_MS, startAfterwards, startDeadline } from '../../shared/deadline';
import { ManualClock } from '../support/fakes';

describe('startAfterwards: a deadline of its own for what follows the work', () => {
  it('is not aborted by the work having run out its deadline; lasts AFTERWARDS_MS', () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    parent.abort();
    const aborted = startDeadline(clock.now() + 10, clock, parent.signal);
    expect(aborted.signal.aborted).toBe(true);
    const after = startAfterwards(aborted.limit, clock);
    try {
      expect(after.signal.aborted).toBe(false);
      expect(after.at).toBe(clock.now() + AFTERWARDS_MS);
    } finally {
      after.dispose();
      aborted.dispose();
    }
  });

  it("never runs past the invocation's end, and aborts when the invocation is cut short", () => {
    const clock = new ManualClock();
    const invocation = new AbortController();
    const work = startDeadline(clock.now() + 100, clock, invocation.signal, {
      at: clock.now() + 300,
      signal: invocation.signal,
    });
    const after = startAfterwards(work.limit, clock);
    try {
      expect(after.at).toBe(clock.now() + 300);
      invocation.abort(new Error('middy timeout'));
      expect(after.signal.aborted).toBe(true);
    } finally {
      after.dispose();
      work.dispose();
    }
  });
});
