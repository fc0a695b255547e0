import { createHash, timingSafeEqual } from 'node:crypto';
import { type BufferComparison, constantTimeEqual } from '../../shared/callers/keys';

/**
 * The comparison of caller secrets must not do more work the more leading characters match (a
 * timing side channel lets an attacker find a secret character by character). Counted, not timed:
 * every comparison is observed, and it must always be one comparison of two 32-byte SHA-256
 * digests, whatever the inputs. `timingSafeEqual` itself visits every byte (Node's guarantee);
 * the time ratio is measured by `npm run bench:constant-time`, not here.
 */
const secret = 'a'.repeat(64);
const pairs: Record<string, string> = {
  'no character matches': `b${'a'.repeat(63)}`,
  '63 of 64 leading characters match': `${'a'.repeat(63)}b`,
  'all match': secret,
  'a prefix (shorter)': 'a'.repeat(10),
  empty: '',
  'longer, same prefix': `${secret}a`,
};

type Equal = (a: string, b: string, compare?: BufferComparison) => boolean;

/** What `equal` compares for each pair: how many comparisons, of what, and how many bytes visited. */
function observe(equal: Equal) {
  return Object.fromEntries(
    Object.entries(pairs).map(([name, presented]) => {
      const calls: { left: Buffer; right: Buffer }[] = [];
      let bytesVisited = 0;
      const counting: BufferComparison = (left, right) => {
        calls.push({ left: Buffer.from(left), right: Buffer.from(right) });
        // A model of a constant-time comparison: every byte, no early exit.
        let difference = left.length ^ right.length;
        for (let i = 0; i < Math.max(left.length, right.length); i++) {
          bytesVisited++;
          difference |= (left[i] ?? 0) ^ (right[i] ?? 0);
        }
        return difference === 0;
      };
      const result = equal(presented, secret, counting);
      return [name, { result, calls, bytesVisited }];
    }),
  );
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** The property: one comparison per call, of the two inputs' digests, 32 bytes visited, whatever matches. */
function expectConstantWork(equal: Equal): void {
  for (const [name, { calls, bytesVisited }] of Object.entries(observe(equal))) {
    const presented = pairs[name] ?? '';
    if (calls.length !== 1) throw new Error(`${name}: ${calls.length} comparisons, expected 1`);
    expect(calls[0]?.left.equals(sha256(presented))).toBe(true);
    expect(calls[0]?.right.equals(sha256(secret))).toBe(true);
    if (bytesVisited !== 32) throw new Error(`${name}: ${bytesVisited} bytes visited, expected 32`);
  }
}

describe('constant-time comparison', () => {
  it('always compares two 32-byte digests once: the same work whether 0 or 63 of 64 characters match', () => {
    expectConstantWork(constantTimeEqual);
  });

  it('the check fails for an early-exit comparison (negative control)', () => {
    // Compares the raw strings character by character and stops at the first difference.
    const earlyExit: Equal = (a, b, compare = timingSafeEqual) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        if (!compare(Buffer.from(a[i] ?? ''), Buffer.from(b[i] ?? ''))) return false;
      }
      return a.length === b.length;
    };
    const seen = observe(earlyExit);
    // The counts see the leak: 1 comparison when the first character differs, 64 when 63 match.
    expect(seen['no character matches']?.calls).toHaveLength(1);
    expect(seen['63 of 64 leading characters match']?.calls).toHaveLength(64);
    expect(() => expectConstantWork(earlyExit)).toThrow();
    // And one that compares the raw bytes (length and content leak through the work done).
    const raw: Equal = (a, b, compare = timingSafeEqual) => compare(Buffer.from(a), Buffer.from(b));
    expect(() => expectConstantWork(raw)).toThrow();
  });

  it('is still a correct comparison, with the real timingSafeEqual', () => {
    expect(constantTimeEqual('x'.repeat(64), 'x'.repeat(64))).toBe(true);
    expect(constantTimeEqual('x'.repeat(64), `${'x'.repeat(63)}y`)).toBe(false);
    expect(constantTimeEqual('x'.repeat(64), 'x'.repeat(10))).toBe(false);
    for (const [name, { result }] of Object.entries(observe(constantTimeEqual)))
      expect([name, result]).toEqual([name, pairs[name] === secret]);
  });
});
