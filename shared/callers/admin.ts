import type { Connections } from './authorization';
import type { CallerRecord, CallerStore, ConnectionScope, LastUseStore } from './caller';
import { InvalidCidrError, normalizeCidrs } from './cidr';
import { generateKey, isValidKeyId } from './keys';

export interface NewCallerInput {
  readonly name: string;
  readonly connections: readonly string[];
  readonly groupIds?: readonly string[];
  /** Group names the caller may request (exact match). */
  readonly groupNames?: readonly string[];
  readonly emailDomains?: readonly string[];
  /**
   * Tickets for any email: required, as an explicit decision, when `tickets` is granted without
   * `emailDomains` (whoever holds the key could otherwise open a session as any user of the
   * tenant, its administrators included).
   */
  readonly anyEmail?: boolean;
  /** Grant the `tokens` scope (vendable oauth2 connections). */
  readonly tokens?: boolean;
  /** Grant `tickets`; by default granted on astrato-oem connections (or on all, without a configuration). */
  readonly tickets?: boolean;
  /** The key stops working this long after creation (`--expires-in 90d`). @default - never */
  readonly expiresInMs?: number;
  /** Networks requests may come from (`--source-cidrs`). @default - any */
  readonly sourceCidrs?: readonly string[];
}

/** Longest `--expires-in`: ten years. */
const MAX_EXPIRES_IN_MS = 3650 * 86_400_000;
/** Longest rotation overlap: a month is more than any deployment of a new key should need. */
export const MAX_OVERLAP_MS = 30 * 86_400_000;
/** A rotation's default overlap: a day for every backend to move to the new key. */
export const DEFAULT_OVERLAP_MS = 24 * 3_600_000;

const UNIT_MS = { h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration as the operators' command takes it: whole hours or days (`24h`, `90d`), or `0`.
 * @throws CallerAdminError naming the option and the accepted forms
 */
export function parseDuration(option: string, text: string): number {
  const match = /^(\d{1,6})([hd])?$/.exec(text.trim());
  if (!match || (match[2] === undefined && match[1] !== '0'))
    throw new CallerAdminError(
      `${option} must be whole hours or days, e.g. 24h or 90d (got "${text.slice(0, 40)}")`,
    );
  return Number(match[1]) * (match[2] ? UNIT_MS[match[2] as keyof typeof UNIT_MS] : 0);
}

function checkedCidrs(option: string, list: readonly string[]): string[] {
  try {
    return normalizeCidrs(list);
  } catch (error) {
    if (error instanceof InvalidCidrError) throw new CallerAdminError(`${option}: ${error.message}`);
    throw error;
  }
}

export class CallerAdminError extends Error {
  override readonly name = 'CallerAdminError';
}

/** How long one table call of the operators' command may take: it serves no request with a deadline. */
const ADMIN_CALL_TIMEOUT_MS = 30_000;
const adminSignal = () => AbortSignal.timeout(ADMIN_CALL_TIMEOUT_MS);

/**
 * Creates a caller and returns its key, which exists nowhere else afterwards (only its hash is
 * stored): whoever runs this must hand it over now.
 */
export async function createCaller(
  store: CallerStore,
  input: NewCallerInput,
  options: { connections?: Connections; now: Date; signal?: AbortSignal },
): Promise<{ record: CallerRecord; key: string }> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200)
    throw new CallerAdminError('--name must be 1 to 200 characters');
  if (input.connections.length === 0) throw new CallerAdminError('at least one --connection is required');
  const emailDomains = [...new Set((input.emailDomains ?? []).map((domain) => domain.trim().toLowerCase()))];
  const anyEmail = input.anyEmail === true;
  if (anyEmail && emailDomains.length > 0)
    throw new CallerAdminError('--any-email and --email-domains contradict each other: give one');
  const scopes: Record<string, ConnectionScope> = {};
  for (const id of input.connections) {
    const connection = options.connections?.[id];
    if (options.connections && !connection) {
      throw new CallerAdminError(
        `unknown connection "${id}" (configured: ${Object.keys(options.connections).join(', ') || 'none'})`,
      );
    }
    scopes[id] = {
      tickets: input.tickets ?? (connection === undefined || connection.kind === 'astrato-oem'),
      tokens: input.tokens ?? false,
      allowedGroupIds: [...new Set(input.groupIds ?? [])],
      allowedGroupNames: [...new Set(input.groupNames ?? [])],
      allowedEmailDomains: emailDomains,
      anyEmail,
    };
  }
  const ticketScopes = Object.keys(scopes).filter((id) => scopes[id]?.tickets);
  if (ticketScopes.length > 0 && emailDomains.length === 0 && !anyEmail) {
    throw new CallerAdminError(
      `tickets on ${ticketScopes.join(', ')} need an email decision: --email-domains acme.com (tickets only for those domains) or --any-email (any user of the tenant, administrators included)`,
    );
  }
  if (anyEmail && ticketScopes.length === 0)
    throw new CallerAdminError('--any-email applies to tickets, and this caller gets none');
  if (input.expiresInMs !== undefined && !(input.expiresInMs > 0 && input.expiresInMs <= MAX_EXPIRES_IN_MS))
    throw new CallerAdminError('--expires-in must be from 1h to 3650d');
  const sourceCidrs =
    input.sourceCidrs === undefined ? undefined : checkedCidrs('--source-cidrs', input.sourceCidrs);
  const { keyId, key, secretHash } = generateKey();
  const record: CallerRecord = {
    keyId,
    name,
    secretHash,
    scopes,
    disabled: false,
    createdAt: options.now.toISOString(),
    ...(input.expiresInMs !== undefined
      ? { expiresAt: new Date(options.now.getTime() + input.expiresInMs).toISOString() }
      : {}),
    ...(sourceCidrs ? { sourceCidrs } : {}),
  };
  await store.create(record, options.signal ?? adminSignal());
  return { record, key };
}

function checkedKeyId(keyId: string): string {
  if (!isValidKeyId(keyId)) throw new CallerAdminError(`"${keyId.slice(0, 40)}" is not a key id`);
  return keyId;
}

/**
 * Rotation with overlap, as Unkey's reroll and Zuplo's roll-key do it: a new key with the old
 * one's name, scopes and source networks (and its lifetime, when it had one, unless `expiresInMs`
 * says otherwise), printed once; the old key then expires after `overlapMs` (never later than it
 * already would), so both work meanwhile. Each records the other (`replaces`, `replacedBy`).
 * A disabled key is not rotated (it was revoked), and a key is rotated once.
 * @see https://www.unkey.com/docs/api-reference/v2/keys/reroll-key
 */
export async function rotateCaller(
  store: CallerStore,
  oldKeyId: string,
  options: { now: Date; overlapMs?: number; expiresInMs?: number },
): Promise<{ record: CallerRecord; key: string; oldExpiresAt: string }> {
  const overlapMs = options.overlapMs ?? DEFAULT_OVERLAP_MS;
  if (!(overlapMs >= 0 && overlapMs <= MAX_OVERLAP_MS))
    throw new CallerAdminError('--overlap must be from 0 to 30d');
  const signal = adminSignal();
  const old = await store.get(checkedKeyId(oldKeyId), signal);
  if (!old) throw new CallerAdminError(`no caller with key id ${oldKeyId}`);
  if (old.disabled) throw new CallerAdminError(`caller ${oldKeyId} is disabled: create a new one instead`);
  if (old.replacedBy)
    throw new CallerAdminError(
      `caller ${oldKeyId} was already replaced by ${old.replacedBy}: rotate that one`,
    );
  const lifetimeMs =
    options.expiresInMs ??
    (old.expiresAt ? Date.parse(old.expiresAt) - Date.parse(old.createdAt) : undefined);
  const { keyId, key, secretHash } = generateKey();
  const record: CallerRecord = {
    keyId,
    name: old.name,
    secretHash,
    scopes: old.scopes,
    disabled: false,
    createdAt: options.now.toISOString(),
    ...(lifetimeMs !== undefined && lifetimeMs > 0
      ? { expiresAt: new Date(options.now.getTime() + lifetimeMs).toISOString() }
      : {}),
    ...(old.sourceCidrs ? { sourceCidrs: old.sourceCidrs } : {}),
    replaces: old.keyId,
  };
  const overlapEnd = options.now.getTime() + overlapMs;
  const oldExpiresAt = new Date(
    old.expiresAt === undefined ? overlapEnd : Math.min(overlapEnd, Date.parse(old.expiresAt)),
  ).toISOString();
  await store.create(record, signal);
  if (!(await store.update(old.keyId, { expiresAt: oldExpiresAt, replacedBy: keyId }, signal))) {
    // Another rotation of the same key got there first: this new key must not live on unnoticed.
    await store.disable(keyId, options.now.toISOString(), signal);
    throw new CallerAdminError(`caller ${oldKeyId} was rotated by someone else meanwhile; nothing changed`);
  }
  return { record, key, oldExpiresAt };
}

/** Sets (or, with `null`, removes) the networks a caller's requests may come from. */
export async function updateCallerSources(
  store: CallerStore,
  keyId: string,
  sourceCidrs: readonly string[] | null,
): Promise<readonly string[] | null> {
  const cidrs = sourceCidrs === null ? null : checkedCidrs('--source-cidrs', sourceCidrs);
  if (!(await store.update(checkedKeyId(keyId), { sourceCidrs: cidrs }, adminSignal())))
    throw new CallerAdminError(`no caller with key id ${keyId}`);
  return cidrs;
}

export async function disableCaller(store: CallerStore, keyId: string, now: Date): Promise<void> {
  if (!(await store.disable(checkedKeyId(keyId), now.toISOString(), adminSignal())))
    throw new CallerAdminError(`no caller with key id ${keyId}`);
}

/**
 * For whom a scope mints tickets: `domains` (its allowed email domains), `any-email` (the
 * operator's recorded decision), `any-email-undecided` (a record from before the decision was
 * required: any email, as it always meant), `no-email` (a recorded "not any email" with no domain:
 * nobody), or `no-tickets`.
 */
export type EmailRule = 'domains' | 'any-email' | 'any-email-undecided' | 'no-email' | 'no-tickets';

/** The {@link EmailRule} of one scope, as `callers list` shows it. */
export function emailRuleOf(scope: ConnectionScope): EmailRule {
  if (!scope.tickets) return 'no-tickets';
  if (scope.allowedEmailDomains.length > 0) return 'domains';
  if (scope.anyEmail === undefined) return 'any-email-undecided';
  return scope.anyEmail ? 'any-email' : 'no-email';
}

/** Every caller in the table, oldest first, with when each was last used (the operators' `list`). */
export async function listCallers(
  store: CallerStore,
  lastUses: LastUseStore,
): Promise<{ record: CallerRecord; lastUsedAt: number | undefined }[]> {
  const signal = adminSignal();
  const [records, uses] = await Promise.all([store.list(signal), lastUses.list(signal)]);
  return records.map((record) => ({ record, lastUsedAt: uses.get(record.keyId) }));
}

/** Whether a key works: `disabled` (revoked), `expired`, or `active`. */
export type CallerState = 'active' | 'expired' | 'disabled';

export function stateOf(record: CallerRecord, now: Date): CallerState {
  if (record.disabled) return 'disabled';
  if (record.expiresAt !== undefined && now.getTime() >= Date.parse(record.expiresAt)) return 'expired';
  return 'active';
}

/**
 * A caller as `list` shows it: never the hash. Each scope says whose tickets it may mint
 * (`emailRule`); `lastUsedAt` is as the functions recorded it (to within 5 minutes).
 */
export function describeCaller(
  record: CallerRecord,
  options: { now: Date; lastUsedAt?: number | undefined } = { now: new Date() },
) {
  return {
    keyId: record.keyId,
    name: record.name,
    state: stateOf(record, options.now),
    disabled: record.disabled,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt ?? null,
    lastUsedAt: options.lastUsedAt === undefined ? null : new Date(options.lastUsedAt).toISOString(),
    sourceCidrs: record.sourceCidrs ?? null,
    replaces: record.replaces ?? null,
    replacedBy: record.replacedBy ?? null,
    scopes: Object.fromEntries(
      Object.entries(record.scopes).map(([id, scope]) => [id, { ...scope, emailRule: emailRuleOf(scope) }]),
    ),
  };
}
