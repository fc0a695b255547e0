import { CallerAuthenticator } from '../../shared/callers/authenticator';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { createApiHandler } from '../../shared/http/api';
import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { createRuntime } from '../../shared/runtime/runtime';
import { DynamoStatusStore } from '../../shared/status/status-store';
import { createStatusReader } from '../../shared/use-cases/connection-status';
import { createTicketIssuer } from '../../shared/use-cases/issue-ticket';
import { createTokenVendor } from '../../shared/use-cases/vend-token';

/** The broker's HTTP API behind API Gateway: wiring only, built once per container. */
const runtime = createRuntime(readRuntimeEnvironment(), { serviceName: 'issue-ticket' });
const { config, tableName, clock, logger, metrics, telemetry, documentClient, tokens, astrato } = runtime;
const store = { client: documentClient, tableName };

export const handler = createApiHandler({
  authenticator: new CallerAuthenticator({
    store: new DynamoCallerStore(store),
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
  }),
  vendor: createTokenVendor({ connections: config.connections, tokens, clock, telemetry }),
  status: createStatusReader({
    connections: config.connections,
    tokens,
    status: new DynamoStatusStore(store),
    clock,
  }),
  logger,
  metrics,
  clock,
});
