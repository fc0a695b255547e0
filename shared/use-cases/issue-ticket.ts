import type { AuditRecorder, RequestOrigin } from '../audit/audit-trail';
import {
  authorizeTicket,
  authorizeTicketSubject,
  type Connections,
  refuseDeniedEmail,
} from '../callers/authorization';
import type { Caller } from '../callers/caller';
import { type Clock, type Random, sleep as realSleep, type Sleep } from '../clock';
import type { AstratoConnection } from '../config/schema';
import { afterwards, type Deadline } from '../deadline';
import { InternalError, InvalidRequestError, isBrokerError, UpstreamRejectedError } from '../errors';
import type { Log, Telemetry } from '../logging/ports';
import { withRetry } from '../retry';
import type { TokenOrigin, TokenSource } from '../tokens/token-source';
import type { AstratoClient } from '../upstream/astrato';

export interface TicketRequest {
  readonly connection?: string;
  /** Validated and lower-cased by the HTTP layer. */
  readonly email: string;
  readonly name?: string;
  readonly groupIds?: readonly string[];
  readonly groupNames?: readonly string[];
}

export interface IssuedTicket {
  readonly ticketId: string;
  /** The credentialed-fetch form (`?embed`), for the page's own script. */
  readonly redeemUrl: string;
  /** The top-level form (`/embed`): opens the vendor's UI, e.g. as the fallback in a new tab. */
  readonly embedUrl: string;
  /** Ends the vendor session in this browser. */
  readonly signOutUrl: string;
  readonly connection: string;
  /** ISO 8601: the vendor's tickets live 60 s and are single use. */
  readonly expiresAt: string;
  /** Where the m2m token came from (for metrics and `Server-Timing`, never the token itself). */
  readonly tokenOrigin: TokenOrigin;
}

export interface TicketIssuerDeps {
  readonly connections: Connections;
  readonly tokens: TokenSource;
  /** The Astrato client of each astrato-oem connection. */
  readonly astrato: Readonly<Record<string, AstratoClient>>;
  readonly clock: Clock;
  readonly log: Log;
  readonly telemetry: Telemetry;
  /** One record per ticket issued (docs/design.md "Audit trail"). */
  readonly audit: AuditRecorder;
  /** @default 60000 */
  readonly ticketLifetimeMs?: number;
  readonly sleep?: Sleep;
  readonly random?: Random;
}

/** RFC 3986 dot-segments: inside a path they would climb out of the ticket path. */
const DOT_SEGMENT = /^\.{1,2}$/;

/**
 * Fills a URL template (`{baseUrl}`, `{ticketId}`). The ticket id is percent-encoded, so it stays
 * one path segment (or one query value) of the template.
 * @throws UpstreamRejectedError for an id that cannot be one: empty, `.` or `..`
 */
export function ticketUrl(template: string, connection: AstratoConnection, ticketId: string): string {
  if (ticketId.length === 0 || DOT_SEGMENT.test(ticketId)) {
    throw new UpstreamRejectedError('astrato oem setup: the ticket id is not a usable path segment');
  }
  return template
    .replaceAll('{baseUrl}', connection.baseUrl)
    .replaceAll('{ticketId}', encodeURIComponent(ticketId));
}

/** Fills the connection's embed URL template (`{baseUrl}`, `{ticketId}`). */
export function embedUrlFor(connection: AstratoConnection, ticketId: string): string {
  return ticketUrl(connection.embedUrlTemplate, connection, ticketId);
}

/** The vendor's sign-out URL of a connection (`{baseUrl}` filled in). */
export function signOutUrlFor(connection: AstratoConnection): string {
  return connection.signOutUrl.replaceAll('{baseUrl}', connection.baseUrl);
}

/**
 * Issues a one-time embed ticket: scope checks, a usable m2m token (never waiting for a refresh),
 * `/oem/setup`; a 401 from setup renews the token once (`TokenSource.withToken`). The audit record
 * is written while `/oem/setup` runs and awaited before the ticket is returned, so it adds no
 * latency; a setup that fails after it is followed by a `ticket_failed` record.
 */
export function createTicketIssuer(deps: TicketIssuerDeps) {
  const lifetimeMs = deps.ticketLifetimeMs ?? 60_000;
  return {
    async issue(
      caller: Caller,
      request: TicketRequest,
      deadline: Deadline,
      origin: RequestOrigin,
    ): Promise<IssuedTicket> {
      const { id, connection, scope } = authorizeTicket(caller, deps.connections, request.connection);
      const groupIds = request.groupIds ?? [];
      const groupNames = request.groupNames ?? [];
      if (connection.requireGroup && groupIds.length === 0 && groupNames.length === 0) {
        throw new InvalidRequestError(
          `connection "${id}" requires groupIds or groupNames: without a group the vendor would create a user without any permission`,
        );
      }
      authorizeTicketSubject(scope, request.email, { groupIds, groupNames });
      refuseDeniedEmail(connection, id, request.email);
      const client = deps.astrato[id];
      if (!client) throw new InternalError(`no Astrato client wired for connection ${id}`);
      const user = {
        email: request.email,
        ...(request.name !== undefined ? { name: request.name } : {}),
        ...(request.groupIds !== undefined ? { groupIds } : {}),
        ...(request.groupNames !== undefined ? { groupNames } : {}),
      };

      // A setup repeated after a lost answer only mints a spare single-use ticket: safe to retry.
      const setup = (accessToken: string) =>
        withRetry(() => client.setup(accessToken, user, deadline.at), {
          deadline: deadline.at,
          clock: deps.clock,
          sleep: deps.sleep ?? realSleep,
          random: deps.random ?? Math.random,
          maxAttempts: 3,
          onRetry: (error, attempt, delayMs) =>
            deps.log.warn('astrato setup failed, retrying', {
              connection: id,
              attempt,
              delayMs,
              error: error.message,
            }),
        });
      const first = await deps.tokens.get(id, { deadline });
      const started = deps.clock.now();
      // The vendor is asked first (its answer is the long wait), then the record goes out while it
      // runs: from the moment the vendor is asked the ticket may exist.
      // The ticket's URLs are built with the answer: an id that cannot be one (502) is a failed
      // setup, audited as ticket_failed like any other.
      const issuing = deps.tokens
        .withToken(
          id,
          deadline,
          async (token) => {
            const { ticketId } = await setup(token.accessToken);
            return {
              ticketId,
              redeemUrl: ticketUrl(connection.redeemUrlTemplate, connection, ticketId),
              embedUrl: embedUrlFor(connection, ticketId),
              signOutUrl: signOutUrlFor(connection),
            };
          },
          { first },
        )
        .finally(() => {
          // Per-request metric: no dimensions, so it joins the invocation's buffered EMF document.
          deps.telemetry.timing('SetupLatency', deps.clock.now() - started);
        });
      const record = {
        at: new Date(started).toISOString(),
        requestId: origin.requestId,
        action: 'ticket',
        callerKeyId: caller.keyId,
        callerName: caller.name,
        sourceIp: origin.sourceIp,
        connection: id,
        email: request.email,
        groupIds,
        groupNames,
      } as const;
      const recorded = deps.audit.record({ ...record, outcome: 'ticket_issued' }, deadline.signal);
      const { value: ticket, origin: tokenOrigin } = await issuing.catch(async (error: unknown) => {
        await recorded;
        // A setup that ran out the request's deadline (its signal has aborted) is still audited:
        // the record gets a deadline of its own, within the invocation's.
        await afterwards(deadline.invocation, deps.clock, (signal) =>
          deps.audit.record(
            {
              ...record,
              at: new Date(deps.clock.now()).toISOString(),
              outcome: 'ticket_failed',
              error: isBrokerError(error) ? error.code : 'internal',
            },
            signal,
          ),
        );
        throw error;
      });
      await recorded;
      deps.telemetry.count('TicketsIssued');
      return {
        ...ticket,
        connection: id,
        expiresAt: new Date(deps.clock.now() + lifetimeMs).toISOString(),
        tokenOrigin,
      };
    },
  };
}

export type TicketIssuer = ReturnType<typeof createTicketIssuer>;
