import { UpstreamRejectedError } from '../errors';
import type { Log } from '../logging/ports';

/** How an upstream wrote its `expires_in`, as {@link normalizeExpiry} read it. */
export type ExpiryForm = 'duration-seconds' | 'epoch-seconds' | 'epoch-milliseconds' | 'default';

export interface NormalizedExpiry {
  readonly expiresAt: number;
  readonly form: ExpiryForm;
  /** Set when the default was used: why, for the log line. */
  readonly reason?: string;
}

export interface ExpiryOptions {
  /** Lifetime assumed when the value is missing or absurd. @default 300 */
  readonly defaultLifetimeSeconds?: number;
  /** Longest lifetime believed. @default 86400 (one day) */
  readonly maxLifetimeSeconds?: number;
}

const EPOCH_SECONDS_FLOOR = 1e9; // 2001-09-09 in epoch seconds
const EPOCH_MILLISECONDS_FLOOR = 1e12; // 2001-09-09 in epoch milliseconds
const EPOCH_MILLISECONDS_CEILING = 1e14; // year 5138: anything above is not a timestamp

/**
 * Reads an upstream `expires_in` defensively (docs/design.md "Token lifecycle", "Expiry").
 *
 * Astrato has been seen answering an absolute epoch-milliseconds value (`1699891513107`)
 * where OAuth 2.0 (RFC 6749 5.1) means a duration in seconds. The magnitude tells them apart:
 * no real token lives 31 years, and no epoch-seconds value of this century is below 10^9.
 * A missing or absurd value never means "forever": the default lifetime is used.
 *
 * @param raw the `expires_in` value as received (number, numeric string, or anything else)
 * @param now epoch milliseconds when the response arrived
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function normalizeExpiry(raw: unknown, now: number, options: ExpiryOptions = {}): NormalizedExpiry {
  const defaultLifetimeMs = (options.defaultLifetimeSeconds ?? 300) * 1000;
  const maxLifetimeMs = (options.maxLifetimeSeconds ?? 86_400) * 1000;
  const fallback = (reason: string): NormalizedExpiry => ({
    expiresAt: now + defaultLifetimeMs,
    form: 'default',
    reason,
  });

  if (raw === undefined || raw === null) return fallback('expires_in missing');
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback('expires_in not a number');
  if (value <= 0) return fallback('expires_in not positive');

  let candidate: NormalizedExpiry;
  if (value < EPOCH_SECONDS_FLOOR) {
    candidate = { expiresAt: now + value * 1000, form: 'duration-seconds' };
  } else if (value < EPOCH_MILLISECONDS_FLOOR) {
    candidate = { expiresAt: value * 1000, form: 'epoch-seconds' };
  } else if (value < EPOCH_MILLISECONDS_CEILING) {
    candidate = { expiresAt: value, form: 'epoch-milliseconds' };
  } else {
    return fallback('expires_in too large to be a time');
  }

  const lifetimeMs = candidate.expiresAt - now;
  if (lifetimeMs <= 0) return fallback(`expires_in (${candidate.form}) is already in the past`);
  if (lifetimeMs > maxLifetimeMs)
    return fallback(`expires_in (${candidate.form}) is beyond the longest lifetime believed`);
  return { expiresAt: Math.floor(candidate.expiresAt), form: candidate.form };
}

/**
 * The one rule both providers apply to a token response's `expires_in` before reading it: absent,
 * or a number that is not negative, a numeric string counting as its number. It is the rule
 * oauth4webapi enforces on every OAuth 2.0 token response (RFC 6749 5.1: a lifetime in seconds),
 * so an `oauth2-client-credentials` endpoint and Astrato's m2m endpoint are judged alike: a
 * negative or non-numeric value makes the answer unusable, while a missing one, 0 or an absurd
 * one gets the short default lifetime ({@link normalizeExpiry}).
 *
 * @returns the value to read, or `undefined` when the field is absent
 * @throws UpstreamRejectedError naming `what` when the value breaks the rule
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://github.com/panva/oauth4webapi (processClientCredentialsResponse)
 */
export function checkedExpiresIn(raw: unknown, what: string): number | undefined {
  if (raw === undefined) return undefined;
  // As oauth4webapi reads it: parseFloat of anything that is not a number.
  const value = typeof raw === 'number' ? raw : Number.parseFloat(raw as string);
  if (!Number.isFinite(value) || value < 0) {
    throw new UpstreamRejectedError(`${what}: expires_in must be a number that is not negative`);
  }
  return value;
}

/**
 * The absolute expiry of a token just received; when the default lifetime had to be used, one
 * warning line says which endpoint, for which connection, and why.
 */
export function tokenExpiry(
  raw: unknown,
  obtainedAt: number,
  context: { readonly what: string; readonly connection: string; readonly log: Log } & ExpiryOptions,
): number {
  const expiry = normalizeExpiry(raw, obtainedAt, context);
  if (expiry.form === 'default') {
    context.log.warn(`${context.what}: using the default lifetime`, {
      connection: context.connection,
      reason: expiry.reason,
      lifetimeSeconds: Math.round((expiry.expiresAt - obtainedAt) / 1000),
    });
  }
  return expiry.expiresAt;
}
