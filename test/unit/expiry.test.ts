import { normalizeExpiry, tokenExpiry } from '../../shared/tokens/expiry';

const now = Date.parse('2026-11-22T10:00:00Z');

describe('normalizeExpiry', () => {
  it('reads a duration in seconds (RFC 6749)', () => {
    expect(normalizeExpiry(300, now)).toEqual({ expiresAt: now + 300_000, form: 'duration-seconds' });
  });

  it('reads a numeric string as a duration', () => {
    expect(normalizeExpiry('600', now)).toEqual({ expiresAt: now + 600_000, form: 'duration-seconds' });
  });

  it('reads an absolute epoch-seconds value', () => {
    const at = Math.floor(now / 1000) + 600;
    expect(normalizeExpiry(at, now)).toEqual({ expiresAt: at * 1000, form: 'epoch-seconds' });
  });

  it("reads Astrato's absolute epoch-milliseconds value", () => {
    expect(normalizeExpiry(now + 600_000, now)).toEqual({
      expiresAt: now + 600_000,
      form: 'epoch-milliseconds',
    });
  });

  it.each([
    ['missing', undefined, 'expires_in missing'],
    ['null', null, 'expires_in missing'],
    ['not a number', 'soon', 'expires_in not a number'],
    ['NaN', Number.NaN, 'expires_in not a number'],
    ['zero', 0, 'expires_in not positive'],
    ['negative', -5, 'expires_in not positive'],
    ['an object', { seconds: 5 }, 'expires_in not a number'],
  ])('uses the short default when %s, and says why', (_label, raw, reason) => {
    const result = normalizeExpiry(raw, now, { defaultLifetimeSeconds: 120 });
    expect(result).toEqual({ expiresAt: now + 120_000, form: 'default', reason });
  });

  it('never believes "forever": an absurd duration falls back to the default', () => {
    const result = normalizeExpiry(10 * 365 * 86_400, now);
    expect(result.form).toBe('default');
    expect(result.expiresAt).toBe(now + 300_000);
    expect(result.reason).toMatch(/longest lifetime/);
  });

  it('an epoch in the past (the sample value 1699891513107, from 2023) falls back to the default', () => {
    const result = normalizeExpiry(1699891513107, now);
    expect(result.form).toBe('default');
    expect(result.reason).toMatch(/in the past/);
  });

  it('a value beyond any timestamp falls back to the default', () => {
    expect(normalizeExpiry(1e20, now).form).toBe('default');
  });

  it('an epoch far in the future falls back to the default', () => {
    expect(normalizeExpiry(now + 30 * 86_400_000, now).form).toBe('default');
  });
});

describe('tokenExpiry', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  const capture = () => {
    const lines: unknown[][] = [];
    const log = { debug() {}, info() {}, error() {}, warn: (...line: unknown[]) => lines.push(line) };
    return { lines, log };
  };

  it('says in one warning which endpoint fell back to the default lifetime, and why', () => {
    const { lines, log } = capture();
    const expiresAt = tokenExpiry(undefined, now, { what: 'astrato m2m token', connection: 'astrato', log });
    expect(expiresAt).toBe(now + 300_000);
    expect(lines).toEqual([
      [
        'astrato m2m token: using the default lifetime',
        { connection: 'astrato', reason: 'expires_in missing', lifetimeSeconds: 300 },
      ],
    ]);
  });

  it('stays silent when the value is usable', () => {
    const { lines, log } = capture();
    expect(tokenExpiry(600, now, { what: 'token endpoint', connection: 'oms', log })).toBe(now + 600_000);
    expect(lines).toEqual([]);
  });
});
