import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoLeaseStore } from '../adapters/dynamo-lease-store';
import { DynamoTokenCache } from '../adapters/dynamo-token-cache';
import { SecretsManagerStore } from '../adapters/secrets-manager-store';
import type { BrokerTable } from '../adapters/table';
import type { AuditTrail } from '../audit/audit-trail';
import { DynamoAuditTrail } from '../audit/dynamo-audit-trail';
import type { CallerReader, LastUseWriter } from '../callers/caller';
import { DynamoCallerReader } from '../callers/dynamo-caller-reader';
import { DynamoLastUseWriter } from '../callers/dynamo-last-use-writer';
import { type Clock, systemClock } from '../clock';
import type { BrokerConfig } from '../config/schema';
import { DependencyGuard, guardClient } from '../dependency-guard';
import { createLogger } from '../logging/logger';
import type { Telemetry } from '../logging/ports';
import { SensitiveValues } from '../logging/redaction';
import { metricsTelemetry } from '../logging/telemetry';
import { DynamoStatusReader, type RefreshStatusReader } from '../status/status-store';
import type { TokenProvider } from '../tokens/ports';
import { type RefreshPolicy, refreshPolicyFrom } from '../tokens/refresh-policy';
import { TokenSource, type TokenSourceDeps } from '../tokens/token-source';
import { AstratoClient } from '../upstream/astrato';
import { OAuth2ClientCredentialsProvider } from '../upstream/oauth2';
import type { RuntimeEnvironment } from './environment';

/**
 * Everything a function needs, built once per container from its environment by its one
 * composition root: `createRuntime` for the API function, `createRefresherRuntime`
 * (refresher-function.ts) for the refresher, both over `buildRuntime`. What the handlers wire from
 * it are use-cases; nothing below reads the environment or builds a client.
 */
export interface Runtime<
  Tokens extends TokenSource = TokenSource,
  Status extends RefreshStatusReader = RefreshStatusReader,
> {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly telemetry: Telemetry;
  /** The token windows of `config.refresh`. */
  readonly policy: RefreshPolicy;
  readonly tokens: Tokens;
  /** The Astrato client of each astrato-oem connection. */
  readonly astrato: Readonly<Record<string, AstratoClient>>;
  /** The table's adapters the functions use: the request-side halves, none of the operators'. */
  readonly stores: RuntimeStores<Status>;
}

export interface RuntimeStores<Status extends RefreshStatusReader = RefreshStatusReader> {
  readonly callers: CallerReader;
  readonly lastUses: LastUseWriter;
  readonly audit: AuditTrail;
  /** The API function only reads the `status#` items; the refresher also writes them. */
  readonly status: Status;
}

export interface RuntimeOptions {
  readonly clock?: Clock;
  /** @default a client with DYNAMODB_CLIENT_SETTINGS, its endpoint and credentials the SDK's defaults */
  readonly dynamoClient?: DynamoDBClient;
  /** @default a client with SECRETS_MANAGER_CLIENT_SETTINGS, as for DynamoDB */
  readonly secretsManagerClient?: SecretsManagerClient;
  /** A logger built elsewhere must mask the values registered in `sensitive`. */
  readonly logger?: Logger;
  /**
   * Where Powertools Metrics writes its own warnings (no metrics to flush, a bad dimension).
   * @default its console, as on Lambda: plain text on stderr
   */
  readonly metricsLogger?: MetricsOptions['logger'];
  /** The process's registry of secret values to mask. @default a new one, shared by the logger */
  readonly sensitive?: SensitiveValues;
  /**
   * How long a client secret read from Secrets Manager is reused before it is read again. The
   * refresher sets its rotation check here (SECRET_CHECK_MINUTES).
   * @default 300000 (5 minutes)
   */
  readonly secretMaxAgeMs?: number;
}

/**
 * How the functions' SDK clients treat a dependency that accepts the connection and never
 * answers: it must fail, not hang. `requestTimeout` only logs a warning unless
 * `throwOnRequestTimeout` is set. Each call also carries its work's deadline (abortSignal), and a
 * failing dependency is backed off, so one request at a time, not every request, finds out it
 * still hangs (docs/design.md "Hanging dependencies").
 */
export const DYNAMODB_CLIENT_SETTINGS = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: 1000, throwOnRequestTimeout: true },
} as const;

/** As {@link DYNAMODB_CLIENT_SETTINGS}, with a longer answer time: a secret read is not a hot path. */
export const SECRETS_MANAGER_CLIENT_SETTINGS = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true },
} as const;

/**
 * The API function's composition root: what functions/issue-ticket/handler.ts builds at cold start.
 * @example export const handler = apiFunction(createRuntime(readRuntimeEnvironment()));
 */
export function createRuntime(environment: RuntimeEnvironment, options: RuntimeOptions = {}): Runtime {
  return buildRuntime(
    environment,
    options,
    (deps) => new TokenSource(deps),
    (table) => new DynamoStatusReader(table),
  );
}

/**
 * What every function's root builds: logging and metrics under the function's service name, the
 * SDK clients behind their dependency guards, the upstream clients, the table's adapters, and the
 * token source, of the kind `tokenSource` makes (the refresher's also renews what is due), and the
 * status adapter `statusStore` makes (the refresher's also writes).
 */
export function buildRuntime<Tokens extends TokenSource, Status extends RefreshStatusReader>(
  environment: RuntimeEnvironment,
  options: RuntimeOptions,
  tokenSource: (deps: TokenSourceDeps) => Tokens,
  statusStore: (table: BrokerTable) => Status,
): Runtime<Tokens, Status> {
  const { config, serviceName } = environment;
  const clock = options.clock ?? systemClock;
  const sensitive = options.sensitive ?? new SensitiveValues();
  const logger = options.logger ?? createLogger({ serviceName, sensitive });
  const metrics = new Metrics({
    namespace: environment.metricsNamespace,
    serviceName,
    ...(options.metricsLogger ? { logger: options.metricsLogger } : {}),
  });
  const telemetry = metricsTelemetry(metrics);
  const dynamoClient = guardClient(
    options.dynamoClient ?? new DynamoDBClient(DYNAMODB_CLIENT_SETTINGS),
    new DependencyGuard({ dependency: 'Table', clock, log: logger, telemetry }),
  );
  const table: BrokerTable = {
    client: DynamoDBDocumentClient.from(dynamoClient, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: environment.tableName,
  };
  const secretsManagerClient = guardClient(
    options.secretsManagerClient ?? new SecretsManagerClient(SECRETS_MANAGER_CLIENT_SETTINGS),
    new DependencyGuard({ dependency: 'SecretsManager', clock, log: logger, telemetry }),
  );

  const providers: Record<string, TokenProvider> = {};
  const astrato: Record<string, AstratoClient> = {};
  for (const [id, connection] of Object.entries(config.connections)) {
    if (connection.kind === 'astrato-oem') {
      const client = new AstratoClient({
        baseUrl: connection.baseUrl,
        timeoutMs: connection.timeoutMs,
        clock,
        log: logger,
      });
      astrato[id] = client;
      providers[id] = client;
    } else {
      providers[id] = new OAuth2ClientCredentialsProvider({
        tokenUrl: connection.tokenUrl,
        clientAuth: connection.clientAuth,
        timeoutMs: connection.timeoutMs,
        clock,
        log: logger,
        ...(connection.scope !== undefined ? { scope: connection.scope } : {}),
      });
    }
  }

  const policy = refreshPolicyFrom(config.refresh);
  const tokens = tokenSource({
    connections: config.connections,
    providers,
    cache: new DynamoTokenCache({ ...table, clock }),
    leases: new DynamoLeaseStore({ ...table, clock }),
    secrets: new SecretsManagerStore({
      client: secretsManagerClient,
      clock,
      log: logger,
      sensitive,
      ...(options.secretMaxAgeMs !== undefined ? { ttlMs: options.secretMaxAgeMs } : {}),
    }),
    policy,
    clock,
    log: logger,
    telemetry,
    sensitive,
    // On Lambda the execution environment's log stream, which survives a runtime restart: a
    // function that crashed mid-acquisition recognises its own lease as dead and takes it over.
    ...(environment.logStream ? { ownerId: environment.logStream } : {}),
  });
  const stores: RuntimeStores<Status> = {
    callers: new DynamoCallerReader(table),
    lastUses: new DynamoLastUseWriter(table),
    audit: new DynamoAuditTrail({ ...table, retentionDays: config.audit.retentionDays }),
    status: statusStore(table),
  };
  return { config, clock, logger, metrics, telemetry, policy, tokens, astrato, stores };
}
