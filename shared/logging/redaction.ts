/**
 * Defence in depth for "never a secret in a log line": the code never logs secrets on purpose,
 * and a {@link SensitiveValues} registry, plugged into Powertools' Logger as its `jsonReplacerFn`,
 * still masks
 * - values under keys that name a secret (`clientSecret`, `access_token`, `authorization`, ...),
 * - any registered secret value (client secrets, access and refresh tokens) wherever it appears
 *   inside a string, e.g. an upstream error message echoing it,
 * - bearer credentials and caller keys, by their shape, registered or not.
 */
export const REDACTED = '[redacted]';

const SENSITIVE_KEY =
  /^(client_?secret|secret|secret_?string|access_?token|refresh_?token|id_?token|token|authorization|proxy-authorization|cookie|set-cookie|password|api_?key|caller_?key|ticket|ticket_?id|embed_?url|redeem_?url|x-api-key)$/i;

/** Registered values shorter than this are not masked (they would mask ordinary words). */
const MIN_SECRET_LENGTH = 8;
/** Bounded: tokens are renewed for ever; only recent ones can still be in flight. */
const MAX_REGISTERED = 256;

/**
 * Bearer credentials and caller keys in a text, masked by their shape, registered or not: for log
 * lines, and for any text that echoes a request back (a path in a 404's detail).
 */
export function maskCredentialShapes(text: string): string {
  let result = text;
  // Every string of every log line comes through here: test for the shapes' fixed parts first.
  if (result.includes('Bearer') || result.includes('Basic')) {
    result = result.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`);
  }
  if (result.includes('tb_')) result = result.replace(/\btb_[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}/g, REDACTED);
  return result;
}

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/**
 * The secret values one process has seen, and the masking built on them. One instance per
 * process, shared by its logger and by whatever reads secrets and tokens (the runtime wires it).
 *
 * @example
 * const sensitive = new SensitiveValues();
 * const logger = createLogger({ serviceName: 'issue-ticket', sensitive });
 * sensitive.register(credentials.clientSecret); // from now on masked in every line of `logger`
 */
export class SensitiveValues {
  private readonly values = new Set<string>();

  /** Remembers a secret value so that it is masked wherever it shows up in a log line. */
  register(value: string | undefined): void {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) return;
    if (this.values.has(value)) {
      this.values.delete(value); // re-insert: most recent last
    } else if (this.values.size >= MAX_REGISTERED) {
      const oldest = this.values.values().next().value;
      if (oldest !== undefined) this.values.delete(oldest);
    }
    this.values.add(value);
  }

  /** Masks registered values, bearer credentials and caller keys inside a string. */
  scrub(text: string): string {
    let result = text;
    for (const value of this.values) {
      if (result.includes(value)) result = result.split(value).join(REDACTED);
    }
    return maskCredentialShapes(result);
  }

  /** A `JSON.stringify` replacer applying both rules (Powertools' `jsonReplacerFn`). */
  readonly replacer = (key: string, value: unknown): unknown => {
    if (typeof value === 'string') {
      if (key !== '' && isSensitiveKey(key)) return REDACTED;
      return this.scrub(value);
    }
    return value;
  };
}
