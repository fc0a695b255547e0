import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoLeaseStore } from '../adapters/dynamo-lease-store';
import { DynamoTokenCache } from '../adapters/dynamo-token-cache';
import { SecretsManagerStore } from '../adapters/secrets-manager-store';
import { type Clock, systemClock } from '../clock';
import type { BrokerConfig } from '../config/schema';
import { DependencyGuard, guardClient } from '../dependency-guard';
import { createLogger } from '../logging/logger';
import type { Telemetry } from '../logging/ports';
import { SensitiveValues } from '../logging/redaction';
import { metricsTelemetry } from '../logging/telemetry';
import type { TokenProvider } from '../tokens/ports';
import { refreshPolicyFrom } from '../tokens/refresh-policy';
import { TokenSource } from '../tokens/token-source';
import { AstratoClient } from '../upstream/astrato';
import { OAuth2ClientCredentialsProvider } from '../upstream/oauth2';
import type { RuntimeEnvironment } from './environment';

/**
 * Everything a function needs, built once per container from its environment. The SDK clients
 * find local endpoints through the standard `AWS_ENDPOINT_URL_DYNAMODB` and
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER` variables, so the same code runs on AWS and locally.
 */
export interface Runtime {
  readonly config: BrokerConfig;
  readonly tableName: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly telemetry: Telemetry;
  readonly documentClient: DynamoDBDocumentClient;
  readonly tokens: TokenSource;
  readonly astrato: Readonly<Record<string, AstratoClient>>;
}

export interface RuntimeOptions {
  readonly serviceName: string;
  readonly clock?: Clock;
  readonly dynamoClient?: DynamoDBClient;
  readonly secretsManagerClient?: SecretsManagerClient;
  /** A logger built elsewhere must mask the values registered in `sensitive`. */
  readonly logger?: Logger;
  /** The process's registry of secret values to mask. @default a new one, shared by the logger */
  readonly sensitive?: SensitiveValues;
  /**
   * Lease owner id. On Lambda it is the execution environment's log stream, which survives a
   * runtime restart: a function that crashed mid-acquisition and restarted recognises its own
   * lease as dead and takes it over at once. @default AWS_LAMBDA_LOG_STREAM_NAME, else random
   */
  readonly ownerId?: string;
  /**
   * How long a client secret read from Secrets Manager is reused before it is read again. The
   * refresher sets its rotation check here (SECRET_CHECK_MINUTES).
   * @default 300000 (5 minutes)
   */
  readonly secretMaxAgeMs?: number;
}

export function createRuntime(environment: RuntimeEnvironment, options: RuntimeOptions): Runtime {
  const clock = options.clock ?? systemClock;
  const sensitive = options.sensitive ?? new SensitiveValues();
  const logger = options.logger ?? createLogger({ serviceName: options.serviceName, sensitive });
  const metrics = new Metrics({ namespace: environment.metricsNamespace, serviceName: options.serviceName });
  const telemetry = metricsTelemetry(metrics);
  // A dependency that accepts the connection and never answers must fail, not hang: requestTimeout
  // only logs a warning unless throwOnRequestTimeout is set. Each call also carries its work's
  // deadline (abortSignal), and a failing dependency is backed off, so one request at a time, not
  // every request, finds out it still hangs (docs/design.md "Hanging dependencies").
  const dynamoClient = guardClient(
    options.dynamoClient ??
      new DynamoDBClient({
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1000, requestTimeout: 1000, throwOnRequestTimeout: true },
      }),
    new DependencyGuard({ dependency: 'Table', clock, log: logger, telemetry }),
  );
  const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const secretsManagerClient = guardClient(
    options.secretsManagerClient ??
      new SecretsManagerClient({
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true },
      }),
    new DependencyGuard({ dependency: 'SecretsManager', clock, log: logger, telemetry }),
  );

  const { config, tableName } = environment;
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

  const adapterOptions = { client: documentClient, tableName, clock };
  const ownerId = options.ownerId ?? process.env.AWS_LAMBDA_LOG_STREAM_NAME;
  const tokens = new TokenSource({
    connections: config.connections,
    providers,
    cache: new DynamoTokenCache(adapterOptions),
    leases: new DynamoLeaseStore(adapterOptions),
    secrets: new SecretsManagerStore({
      client: secretsManagerClient,
      clock,
      log: logger,
      sensitive,
      ...(options.secretMaxAgeMs !== undefined ? { ttlMs: options.secretMaxAgeMs } : {}),
    }),
    policy: refreshPolicyFrom(config.refresh),
    clock,
    log: logger,
    telemetry,
    sensitive,
    ...(ownerId ? { ownerId } : {}),
  });

  return { config, tableName, clock, logger, metrics, telemetry, documentClient, tokens, astrato };
}
