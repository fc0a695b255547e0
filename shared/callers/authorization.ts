import type { AstratoConnection, Connection, OAuth2Connection } from '../config/schema';
import { ForbiddenError, InvalidRequestError, UnknownConnectionError } from '../errors';
import type { Caller, ConnectionScope } from './caller';

/**
 * Scope rules of docs/design.md "Callers". Each refusal says what is not allowed, in terms of the
 * caller's own request.
 */
export type Connections = Readonly<Record<string, Connection>>;

function lookup(connections: Connections, id: string): Connection {
  const connection = Object.hasOwn(connections, id) ? connections[id] : undefined;
  if (!connection) throw new UnknownConnectionError(id);
  return connection;
}

function scopeOf(caller: Caller, id: string): ConnectionScope | undefined {
  return Object.hasOwn(caller.scopes, id) ? caller.scopes[id] : undefined;
}

/**
 * The astrato-oem connection a ticket request is for. Without `requested`, the caller must be
 * scoped (with `tickets`) to exactly one astrato-oem connection.
 */
export function authorizeTicket(
  caller: Caller,
  connections: Connections,
  requested: string | undefined,
): { id: string; connection: AstratoConnection; scope: ConnectionScope } {
  if (requested === undefined) {
    const candidates = Object.entries(caller.scopes).filter(
      ([id, scope]) =>
        scope.tickets && Object.hasOwn(connections, id) && connections[id]?.kind === 'astrato-oem',
    );
    if (candidates.length === 0)
      throw new ForbiddenError('this caller may not mint tickets on any connection');
    if (candidates.length > 1) {
      throw new InvalidRequestError(
        '"connection" is required: this caller may mint tickets on several connections',
      );
    }
    const [id] = candidates[0] as [string, ConnectionScope];
    return authorizeTicket(caller, connections, id);
  }
  const connection = lookup(connections, requested);
  const scope = scopeOf(caller, requested);
  if (!scope?.tickets)
    throw new ForbiddenError(`this caller may not mint tickets on connection "${requested}"`);
  if (connection.kind !== 'astrato-oem') {
    throw new InvalidRequestError(
      `connection "${requested}" does not issue tickets (kind ${connection.kind})`,
    );
  }
  return { id: requested, connection, scope };
}

function refuseUnlisted(field: string, requested: readonly string[], allowed: readonly string[]): void {
  const notAllowed = requested.filter((group) => !allowed.includes(group));
  if (notAllowed.length > 0) {
    throw new ForbiddenError(
      `${field} not allowed for this caller: ${notAllowed
        .slice(0, 5)
        .map((group) => JSON.stringify(group))
        .join(', ')}${notAllowed.length > 5 ? ', ...' : ''}`,
    );
  }
}

/**
 * Requested groupIds and groupNames must each be a subset of the allowed ones (exact match); the
 * email's domain must be allowed.
 */
export function authorizeTicketSubject(
  scope: ConnectionScope,
  email: string,
  groups: { readonly groupIds: readonly string[]; readonly groupNames: readonly string[] },
): void {
  refuseUnlisted('groupIds', groups.groupIds, scope.allowedGroupIds);
  refuseUnlisted('groupNames', groups.groupNames, scope.allowedGroupNames);
  const domain = email.slice(email.lastIndexOf('@') + 1);
  if (scope.allowedEmailDomains.length > 0) {
    if (!scope.allowedEmailDomains.includes(domain)) {
      throw new ForbiddenError(`email domain "${domain}" is not allowed for this caller`);
    }
  } else if (scope.anyEmail === false) {
    // Recorded as "not any email" yet no domain given: nobody, rather than everybody.
    throw new ForbiddenError('this caller is allowed no email domain');
  }
}

/**
 * The connection's `denyEmails`: accounts no caller may ever get a ticket for (the tenant's
 * administrators, say), as exact addresses or `@domain` entries, both lower-case.
 */
export function refuseDeniedEmail(connection: AstratoConnection, id: string, email: string): void {
  const domain = email.slice(email.lastIndexOf('@'));
  if (connection.denyEmails.includes(email) || connection.denyEmails.includes(domain)) {
    throw new ForbiddenError(`no caller may mint tickets for this email on connection "${id}" (denyEmails)`);
  }
}

/** Token vending: oauth2 connections marked vendable, callers with the `tokens` scope, never astrato-oem. */
export function authorizeTokenVending(
  caller: Caller,
  connections: Connections,
  id: string,
): { connection: OAuth2Connection } {
  const connection = lookup(connections, id);
  const scope = scopeOf(caller, id);
  if (!scope) throw new ForbiddenError(`this caller has no access to connection "${id}"`);
  if (connection.kind === 'astrato-oem') {
    throw new ForbiddenError(`tokens of connection "${id}" (astrato-oem) are never handed out`);
  }
  if (!connection.vendable) throw new ForbiddenError(`connection "${id}" does not vend tokens`);
  if (!scope.tokens) throw new ForbiddenError(`this caller may not read tokens of connection "${id}"`);
  return { connection };
}

/**
 * Status: a caller that may use the connection, with `tickets` or `tokens` on it. A scope entry
 * with neither grants nothing, so it does not open the connection's state either.
 */
export function authorizeStatus(
  caller: Caller,
  connections: Connections,
  id: string,
): { connection: Connection } {
  const connection = lookup(connections, id);
  const scope = scopeOf(caller, id);
  if (!scope) throw new ForbiddenError(`this caller has no access to connection "${id}"`);
  if (!scope.tickets && !scope.tokens) {
    throw new ForbiddenError(`this caller has neither tickets nor tokens on connection "${id}"`);
  }
  return { connection };
}

/**
 * A caller restricted to source networks (`sourceCidrs`) is refused when the request's source
 * address, API Gateway's `requestContext.http.sourceIp`, is outside them. Checked after the key and
 * before anything else, so such a request never reaches an upstream.
 * @throws ForbiddenError naming the address (the caller's own) but not the allowed networks
 */
export function authorizeSource(caller: Caller, sourceIp: string | undefined): void {
  if (caller.sourceNetworks === undefined) return;
  if (sourceIp === undefined || !caller.sourceNetworks.allows(sourceIp)) {
    throw new ForbiddenError(
      `requests from ${JSON.stringify((sourceIp ?? 'an unknown address').slice(0, 45))} are outside this caller's source networks`,
    );
  }
}
