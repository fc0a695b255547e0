import fc from 'fast-check';
import { UpstreamUnavailableError } from '../../shared/errors';
import { problemResponse } from '../../shared/http/problem';
import { backoffDelay } from '../../shared/retry';
import {
  boundedRetryAfterMs,
  parseHttpDate,
  parseRetryAfter,
  RETRY_AFTER_MAX_SECONDS,
  retryAfterHeaderSeconds,
} from '../../shared/retry-after';

const now = Date.parse('2026-11-22T10:00:00Z');
const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const wholeSecondsUpToCap = (ms: number | undefined) =>
  ms === undefined || (Number.isInteger(ms / 1000) && ms >= 0 && ms <= RETRY_AFTER_MAX_SECONDS * 1000);

/** An HTTP-date in IMF-fixdate form, as RFC 9110 5.6.7 writes it. */
const imfFixdate = (time: number) => new Date(time).toUTCString();

describe('Retry-After from upstreams (RFC 9110 10.2.3), parsed and bounded', () => {
  it('any text at all: ignored, or whole seconds from 0 to 120', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[\d ,:A-Za-z+.e-]{0,40}$/)),
        (value) => wholeSecondsUpToCap(parseRetryAfter(value, now)),
      ),
      { numRuns: RUNS },
    );
  });

  it('delay-seconds of any length: the number, capped at 120', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{1,400}$/), (digits) => {
        const expected = BigInt(digits) > 120n ? 120 : Number(digits);
        return parseRetryAfter(digits, now) === expected * 1000;
      }),
      { numRuns: RUNS },
    );
  });

  it('anything with a character other than a digit that is no HTTP-date is ignored', () => {
    fc.assert(
      fc.property(
        fc.tuple(
          fc.stringMatching(/^\d{0,5}$/),
          fc.constantFrom('e', '.', '-', '+', 'x', 's', ' s'),
          fc.stringMatching(/^\d{0,5}$/),
        ),
        ([before, odd, after]) => parseRetryAfter(`${before}${odd}${after}`, now) === undefined,
      ),
      { numRuns: RUNS },
    );
  });

  it('an HTTP-date in any of the three forms: seconds until then, 0 when past, capped at 120', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) }),
        (time) => {
          const at = Math.floor(time / 1000) * 1000;
          const expected = Math.min(120, Math.max(0, Math.ceil((at - now) / 1000))) * 1000;
          return parseRetryAfter(imfFixdate(at), now) === expected;
        },
      ),
      { numRuns: RUNS },
    );
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sun, 31 Feb 2026 08:49:37 GMT', now)).toBeUndefined();
    // Date.parse would take these; an HTTP-date they are not.
    for (const notADate of ['-1', '2026-11-22T10:00:30Z', 'Sun Nov 22 2026 10:00:30 GMT+0100', 'Nov 22 2026'])
      expect(parseRetryAfter(notADate, now)).toBeUndefined();
  });

  it.each([
    ['999999999999999999999999', 120_000],
    ['9'.repeat(400).replace(/^9{390}/, '(390 nines)'), 120_000],
    ['Fri, 31 Dec 9999 23:59:59 GMT', 120_000],
    ['Sun, 22 Nov 2026 09:00:00 GMT', 0],
    ['0', 0],
    ['007', 7_000],
    [' 30 ', 30_000],
    ['1e3', undefined],
    ['-5', undefined],
    ['5.5', undefined],
    ['', undefined],
  ])('%j -> %j ms', (label, expected) => {
    const value = label.replace('(390 nines)', '9'.repeat(390));
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe("the broker's Retry-After and its own waits", () => {
  it('any wait a producer passes (NaN, Infinity, negative, huge): a header from 1 to 120, or none', () => {
    fc.assert(
      fc.property(fc.option(fc.double(), { nil: undefined }), (ms) => {
        const response = problemResponse(new UpstreamUnavailableError('busy', { retryAfterMs: ms }), 'r');
        const header = response.headers?.['retry-after'];
        if (header === undefined) return ms === undefined || !Number.isFinite(ms) || ms < 0;
        return /^\d+$/.test(String(header)) && Number(header) >= 1 && Number(header) <= 120;
      }),
      { numRuns: RUNS },
    );
    expect(retryAfterHeaderSeconds(0)).toBe(1);
    expect(retryAfterHeaderSeconds(1e27)).toBe(120);
    expect(retryAfterHeaderSeconds(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('the retry policy never waits longer than the same bound', () => {
    fc.assert(
      fc.property(
        fc.double(),
        fc.integer({ min: 1, max: 10 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ms, attempt, r) => {
          const delay = backoffDelay(attempt, new UpstreamUnavailableError('429', { retryAfterMs: ms }), {
            random: () => r,
          });
          return Number.isFinite(delay) && delay >= 0 && delay <= 120_000;
        },
      ),
      { numRuns: RUNS },
    );
    expect(boundedRetryAfterMs(1e27)).toBe(120_000);
  });
});
