import { isUsable, tokenState, tokenWindows } from '../../shared/tokens/refresh-policy';

const policy = { hardSkewMs: 30_000, minWindowMs: 120_000 };
const t0 = 1_000_000_000_000;
const token = (lifetimeSeconds: number) => ({ obtainedAt: t0, expiresAt: t0 + lifetimeSeconds * 1000 });

describe('refresh windows', () => {
  it('10-minute Astrato token: due a third before expiry, usable until 30 s before', () => {
    expect(tokenWindows(token(600), policy)).toEqual({ dueAt: t0 + 400_000, usableUntil: t0 + 570_000 });
  });

  it('5-minute Keycloak token: the 2-minute minimum window applies', () => {
    expect(tokenWindows(token(300), policy)).toEqual({ dueAt: t0 + 180_000, usableUntil: t0 + 270_000 });
  });

  it('the window never exceeds half the lifetime', () => {
    expect(tokenWindows(token(60), policy).dueAt).toBe(t0 + 30_000);
  });

  it('a one-hour token is due after 40 minutes', () => {
    expect(tokenWindows(token(3600), policy).dueAt).toBe(t0 + 2_400_000);
  });

  it('short-lived tokens stay usable for a while after they become due (skew capped at half the window)', () => {
    const windows = tokenWindows(token(10), policy);
    expect(windows.dueAt).toBe(t0 + 5_000);
    expect(windows.usableUntil).toBe(t0 + 7_500);
  });

  it('states move fresh -> due -> expired', () => {
    const tenMinutes = token(600);
    expect(tokenState(tenMinutes, t0 + 399_999, policy)).toBe('fresh');
    expect(tokenState(tenMinutes, t0 + 400_000, policy)).toBe('due');
    expect(tokenState(tenMinutes, t0 + 569_999, policy)).toBe('due');
    expect(tokenState(tenMinutes, t0 + 570_000, policy)).toBe('expired');
    expect(isUsable(tenMinutes, t0 + 569_999, policy)).toBe(true);
    expect(isUsable(tenMinutes, t0 + 570_000, policy)).toBe(false);
  });

  it('a token that is already past expiry is expired', () => {
    expect(tokenState(token(600), t0 + 700_000, policy)).toBe('expired');
  });
});
