/**
 * Defence in depth for "never a secret in a log line": the code never logs secrets on purpose,
 * and this replacer (plugged into Powertools' Logger as `jsonReplacerFn`) still masks
 * - values under keys that name a secret (`clientSecret`, `access_token`, `authorization`, ...),
 * - any registered secret value (client secrets, access and refresh tokens, caller keys, tickets)
 *   wherever it appears inside a string, e.g. an upstream error message echoing it.
 */
export const REDACTED = '[redacted]';

const SENSITIVE_KEY =
  /^(client_?secret|secret|secret_?string|access_?token|refresh_?token|id_?token|token|authorization|proxy-authorization|cookie|set-cookie|password|api_?key|caller_?key|ticket|ticket_?id|embed_?url|x-api-key)$/i;

/** Registered values shorter than this are not masked (they would mask ordinary words). */
const MIN_SECRET_LENGTH = 8;
/** Bounded: tokens are renewed for ever; only recent ones can still be in flight. */
const MAX_REGISTERED = 256;

const registered = new Set<string>();

/** Remembers a secret value so that it is masked wherever it shows up in a log line. */
export function registerSensitive(value: string | undefined): void {
  if (value === undefined || value.length < MIN_SECRET_LENGTH) return;
  if (registered.has(value)) {
    registered.delete(value); // re-insert: most recent last
  } else if (registered.size >= MAX_REGISTERED) {
    const oldest = registered.values().next().value;
    if (oldest !== undefined) registered.delete(oldest);
  }
  registered.add(value);
}

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/** Masks registered values inside a string. */
export function scrub(text: string): string {
  let result = text;
  for (const value of registered) {
    if (result.includes(value)) result = result.split(value).join(REDACTED);
  }
  // Bearer credentials and caller keys have a recognisable shape even when not registered.
  return result
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`)
    .replace(/\btb_[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}/g, REDACTED);
}

/** A `JSON.stringify` replacer applying both rules. */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (typeof value === 'string') {
    if (key !== '' && isSensitiveKey(key)) return REDACTED;
    return scrub(value);
  }
  return value;
}
