import { AuditRecorder } from '../audit/audit-trail';
import { CallerAuthenticator } from '../callers/authenticator';
import { LastUseRecorder } from '../callers/last-use';
import { createApiHandler } from '../http/api';
import { createStatusReader } from '../use-cases/connection-status';
import { createTicketIssuer } from '../use-cases/issue-ticket';
import { createTokenVendor } from '../use-cases/vend-token';
import type { Runtime } from './runtime';
import { REFRESH_SCHEDULE_MINUTES } from './schedule';

/**
 * The broker's HTTP API wired from its runtime (`createRuntime`): what
 * `functions/issue-ticket/handler.ts` exports. Wiring only, so a test can run the same wiring with
 * its own clock.
 */
export function apiFunction(runtime: Runtime) {
  const { config, clock, logger, metrics, telemetry, tokens, astrato, stores } = runtime;
  const audit = new AuditRecorder({ trail: stores.audit, log: logger, telemetry });
  return createApiHandler({
    authenticator: new CallerAuthenticator({
      store: stores.callers,
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
      status: stores.status,
      clock,
      schedulePeriodMs: REFRESH_SCHEDULE_MINUTES * 60_000,
    }),
    audit,
    lastUse: new LastUseRecorder({ store: stores.lastUses, clock, log: logger }),
    logger,
    metrics,
    clock,
  });
}
