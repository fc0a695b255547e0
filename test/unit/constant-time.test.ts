import { constantTimeEqual } from '../../shared/callers/keys';

/**
 * The comparison of caller secrets must not take longer the more leading characters match
 * (a timing side channel lets an attacker find a secret character by character). Both inputs are
 * hashed to fixed-length digests and compared with timingSafeEqual; this measures it.
 */
function timePerCall(a: string, b: string, iterations: number): number {
  const started = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < iterations; i++) if (constantTimeEqual(a, b)) sink++;
  const elapsed = Number(process.hrtime.bigint() - started);
  if (sink < 0) throw new Error('unreachable');
  return elapsed / iterations;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('constant-time comparison', () => {
  it('takes the same time whether 0 or 63 of 64 leading characters match', () => {
    const secret = 'a'.repeat(64);
    const noneMatch = `b${'a'.repeat(63)}`;
    const allButLast = `${'a'.repeat(63)}b`;
    // Interleaved batches, medians: robust to the machine doing other things.
    const early: number[] = [];
    const late: number[] = [];
    timePerCall(secret, noneMatch, 20_000); // warm up
    for (let batch = 0; batch < 25; batch++) {
      early.push(timePerCall(secret, noneMatch, 2_000));
      late.push(timePerCall(secret, allButLast, 2_000));
    }
    const ratio = median(late) / median(early);
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.25);
  });

  it('is still a correct comparison', () => {
    expect(constantTimeEqual('x'.repeat(64), 'x'.repeat(64))).toBe(true);
    expect(constantTimeEqual('x'.repeat(64), `${'x'.repeat(63)}y`)).toBe(false);
  });
});
