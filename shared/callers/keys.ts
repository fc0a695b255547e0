import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Caller keys (docs/design.md "Callers"): `tb_<keyId>_<secret>`, the secret being 32 random bytes in
 * base64url. Only the SHA-256 of the secret is stored.
 */
export const KEY_PREFIX = 'tb_';
const KEY_ID_PATTERN = /^[A-Za-z0-9]{8,32}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const KEY_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export interface ParsedKey {
  readonly keyId: string;
  readonly secret: string;
}

export interface NewKey extends ParsedKey {
  /** The full key, shown once to whoever creates the caller. */
  readonly key: string;
  readonly secretHash: string;
}

/** A new key: a 16-character key id (unbiased over base62) and a 256-bit secret. */
export function generateKey(): NewKey {
  let keyId = '';
  while (keyId.length < 16) {
    for (const byte of randomBytes(32)) {
      // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
      if (byte < 248 && keyId.length < 16) keyId += KEY_ID_ALPHABET[byte % 62];
    }
  }
  const secret = randomBytes(32).toString('base64url');
  return { keyId, secret, key: `${KEY_PREFIX}${keyId}_${secret}`, secretHash: hashSecret(secret) };
}

/** Splits a presented key; `undefined` when it does not have the key's shape. */
export function parseKey(presented: string): ParsedKey | undefined {
  if (!presented.startsWith(KEY_PREFIX)) return undefined;
  const rest = presented.slice(KEY_PREFIX.length);
  const separator = rest.indexOf('_');
  if (separator < 0) return undefined;
  const keyId = rest.slice(0, separator);
  const secret = rest.slice(separator + 1); // base64url may itself contain '_'
  if (!KEY_ID_PATTERN.test(keyId) || !SECRET_PATTERN.test(secret)) return undefined;
  return { keyId, secret };
}

export function isValidKeyId(keyId: string): boolean {
  return KEY_ID_PATTERN.test(keyId);
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares two buffers of equal length; the default, `timingSafeEqual`, visits every byte. */
export type BufferComparison = (left: Buffer, right: Buffer) => boolean;

/**
 * Compares two strings in time that depends on neither their content nor how much of it matches:
 * both are hashed to fixed-length digests first, then compared with `timingSafeEqual`, which
 * always compares all 32 bytes. `compare` is injectable so a test can count what is compared.
 * @see https://nodejs.org/api/crypto.html#cryptotimingsafeequala-b
 */
export function constantTimeEqual(
  a: string,
  b: string,
  compare: BufferComparison = timingSafeEqual,
): boolean {
  const left = createHash('sha256').update(a, 'utf8').digest();
  const right = createHash('sha256').update(b, 'utf8').digest();
  return compare(left, right);
}
