import type { RefreshSettings } from '../config/schema';
import type { CachedToken } from './token';

/**
 * When a token may be used and when it should be renewed (docs/design.md "Token lifecycle", "Windows").
 *
 * - refresh window: max(minWindow, lifetime / 3), never more than lifetime / 2;
 * - *due* from `expiresAt - window`: the scheduled refresher renews it;
 * - *usable* until `expiresAt - skew`: requests use it without waiting. The skew is the configured
 *   hard skew, but never more than half the window, so that a short-lived token always has a
 *   stretch where it is due yet still usable (otherwise it would go unusable before the refresher
 *   could see it due).
 */
export interface RefreshPolicy {
  readonly hardSkewMs: number;
  readonly minWindowMs: number;
}

export type TokenState = 'fresh' | 'due' | 'expired';

export function refreshPolicyFrom(settings: RefreshSettings): RefreshPolicy {
  return { hardSkewMs: settings.hardSkewSeconds * 1000, minWindowMs: settings.minWindowSeconds * 1000 };
}

export interface TokenWindows {
  /** From this instant the token is due for refresh. */
  readonly dueAt: number;
  /** Until this instant (exclusive) the token may be used. */
  readonly usableUntil: number;
}

export function tokenWindows(
  token: Pick<CachedToken, 'expiresAt' | 'obtainedAt'>,
  policy: RefreshPolicy,
): TokenWindows {
  const lifetime = Math.max(0, token.expiresAt - token.obtainedAt);
  const window = Math.min(Math.max(policy.minWindowMs, lifetime / 3), lifetime / 2);
  const skew = Math.min(policy.hardSkewMs, window / 2);
  return { dueAt: token.expiresAt - window, usableUntil: token.expiresAt - skew };
}

export function isUsable(
  token: Pick<CachedToken, 'expiresAt' | 'obtainedAt'>,
  now: number,
  policy: RefreshPolicy,
): boolean {
  return now < tokenWindows(token, policy).usableUntil;
}

export function tokenState(
  token: Pick<CachedToken, 'expiresAt' | 'obtainedAt'>,
  now: number,
  policy: RefreshPolicy,
): TokenState {
  const { dueAt, usableUntil } = tokenWindows(token, policy);
  if (now >= usableUntil) return 'expired';
  if (now >= dueAt) return 'due';
  return 'fresh';
}
