import type { AuditRecorder, RequestOrigin } from '../audit/audit-trail';
import { authorizeTokenVending, type Connections } from '../callers/authorization';
import type { Caller } from '../callers/caller';
import type { Clock } from '../clock';
import type { Deadline } from '../deadline';
import type { Telemetry } from '../logging/ports';
import type { TokenOrigin, TokenSource } from '../tokens/token-source';

/** RFC 6749 5.1 shape, plus the absolute expiry. */
export interface VendedToken {
  readonly access_token: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly expires_at: string;
  readonly tokenOrigin: TokenOrigin;
}

/**
 * Hands a usable token of a vendable oauth2 connection to a caller with the `tokens` scope, once
 * its audit record is written (docs/design.md "Audit trail"). A token usually comes from memory, so
 * there is no upstream call for the write to overlap: a vended token costs one table write.
 */
export function createTokenVendor(deps: {
  connections: Connections;
  tokens: TokenSource;
  clock: Clock;
  telemetry: Telemetry;
  audit: AuditRecorder;
}) {
  return {
    async vend(
      caller: Caller,
      connection: string,
      deadline: Deadline,
      origin: RequestOrigin,
    ): Promise<VendedToken> {
      authorizeTokenVending(caller, deps.connections, connection);
      const { token, origin: tokenOrigin } = await deps.tokens.get(connection, { deadline });
      await deps.audit.record(
        {
          at: new Date(deps.clock.now()).toISOString(),
          requestId: origin.requestId,
          action: 'token',
          outcome: 'token_vended',
          callerKeyId: caller.keyId,
          callerName: caller.name,
          sourceIp: origin.sourceIp,
          connection,
        },
        deadline.signal,
      );
      deps.telemetry.count('TokensVended');
      return {
        access_token: token.accessToken,
        token_type: token.tokenType,
        expires_in: Math.max(0, Math.floor((token.expiresAt - deps.clock.now()) / 1000)),
        expires_at: new Date(token.expiresAt).toISOString(),
        tokenOrigin,
      };
    },
  };
}

export type TokenVendor = ReturnType<typeof createTokenVendor>;
