import type { Connections } from './authorization';
import type { CallerRecord, CallerStore, ConnectionScope } from './caller';
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
  const { keyId, key, secretHash } = generateKey();
  const record: CallerRecord = {
    keyId,
    name,
    secretHash,
    scopes,
    disabled: false,
    createdAt: options.now.toISOString(),
  };
  await store.create(record, options.signal ?? adminSignal());
  return { record, key };
}

export async function disableCaller(store: CallerStore, keyId: string, now: Date): Promise<void> {
  if (!isValidKeyId(keyId)) throw new CallerAdminError(`"${keyId.slice(0, 40)}" is not a key id`);
  if (!(await store.disable(keyId, now.toISOString(), adminSignal())))
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

/** Every caller in the table, oldest first (the operators' `list`). */
export function listCallers(store: CallerStore): Promise<CallerRecord[]> {
  return store.list(adminSignal());
}

/** A caller as `list` shows it: never the hash. Each scope says whose tickets it may mint (`emailRule`). */
export function describeCaller(record: CallerRecord) {
  return {
    keyId: record.keyId,
    name: record.name,
    disabled: record.disabled,
    createdAt: record.createdAt,
    scopes: Object.fromEntries(
      Object.entries(record.scopes).map(([id, scope]) => [id, { ...scope, emailRule: emailRuleOf(scope) }]),
    ),
  };
}
