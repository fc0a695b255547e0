import { AuditRecorder } from '../audit/audit-trail';
import { DynamoAuditTrail } from '../audit/dynamo-audit-trail';
import { CallerAuthenticator } from '../callers/authenticator';
import { DynamoCallerReader } from '../callers/dynamo-caller-reader';
import { DynamoLastUseWriter } from '../callers/dynamo-last-use-writer';
import { LastUseRecorder } from '../callers/last-use';
import { createApiHandler } from '../http/api';
import { DynamoStatusStore } from '../status/status-store';
import { createStatusReader } from '../use-cases/connection-status';
import { createTicketIssuer } from '../use-cases/issue-ticket';
import { createTokenVendor } from '../use-cases/vend-token';
import type { Runtime } from './runtime';

/**
 * The broker's HTTP API wired from a runtime: what `functions/issue-ticket/handler.ts` exports.
 * One composition root, so a test can run the same wiring with its own clock.
 */
export function apiFunction(runtime: Runtime) {
  const { config, tableName, clock, logger, metrics, telemetry, documentClient, tokens, astrato } = runtime;
  const store = { client: documentClient, tableName };
  const audit = new AuditRecorder({
    trail: new DynamoAuditTrail({ ...store, retentionDays: config.audit.retentionDays }),
    log: logger,
    telemetry,
  });
  return createApiHandler({
    authenticator: new CallerAuthenticator({
      store: new DynamoCallerReader(store),
      clock,
      log: logger,
      maxStaleMs: config.callers.maxStaleSeconds * 1000,
    }),
    tickets: createTicketIssuer({
      connections: config.connections,
      tokens,
      astrato,
      clock,
      log: logger,
      telemetry,
      audit,
    }),
    vendor: createTokenVendor({ connections: config.connections, tokens, clock, telemetry, audit }),
    status: createStatusReader({
      connections: config.connections,
      tokens,
      status: new DynamoStatusStore(store),
      clock,
    }),
    audit,
    lastUse: new LastUseRecorder({ store: new DynamoLastUseWriter(store), clock, log: logger }),
    logger,
    metrics,
    clock,
  });
}
