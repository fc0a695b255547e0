import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type AstratoSimulator,
  type AstratoSimulatorOptions,
  startAstratoSimulator,
} from '../../local/astrato-simulator';
import { createTable, type LocalDynamo, startDynamo } from '../../local/dynamodb';
import {
  type KeycloakSimulator,
  type KeycloakSimulatorOptions,
  startKeycloakSimulator,
} from '../../local/keycloak-simulator';
import { type LocalSecretsManager, startSecretsManager } from '../../local/secrets-manager';
import { DynamoLeaseStore } from '../../shared/adapters/dynamo-lease-store';
import { DynamoTokenCache } from '../../shared/adapters/dynamo-token-cache';
import { SecretsManagerStore } from '../../shared/adapters/secrets-manager-store';
import type { Clock } from '../../shared/clock';
import { type BrokerConfig, type BrokerConfigInput, parseBrokerConfig } from '../../shared/config/schema';
import type { Log } from '../../shared/logging/ports';
import { silentLog } from '../../shared/logging/ports';
import { SensitiveValues } from '../../shared/logging/redaction';
import { CONFIG_FILE_NAME, ENV, SERVICE_NAMES, type ServiceName } from '../../shared/runtime/environment';
import type { TokenProvider } from '../../shared/tokens/ports';
import { refreshPolicyFrom } from '../../shared/tokens/refresh-policy';
import { RefreshingTokenSource } from '../../shared/tokens/refreshing-token-source';
import type { TokenSourceDeps } from '../../shared/tokens/token-source';
import { AstratoClient } from '../../shared/upstream/astrato';
import { OAuth2ClientCredentialsProvider } from '../../shared/upstream/oauth2';
import { runScript, type ScriptResult } from './child-process';

export const TABLE_NAME = 'ticket-broker-test';
export const FAKE_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
} as const;

export const ASTRATO_CLIENT = { clientId: 'astrato-client', clientSecret: 'astrato-secret-Zx9!value' };
export const OMS_CLIENT = { clientId: 'oms-client', clientSecret: 'oms-secret:with&reserved=chars%' };

export interface TestStackOptions {
  readonly astrato?: AstratoSimulatorOptions;
  readonly keycloak?: KeycloakSimulatorOptions;
  readonly omsClientAuth?: 'client_secret_basic' | 'client_secret_post';
  readonly omsScope?: string;
  /**
   * More astrato-oem connections on the same simulator and secret, e.g. one with `requireGroup`.
   * Only what differs from the default astrato connection is given.
   */
  readonly extraAstratoConnections?: Readonly<Record<string, Record<string, unknown>>>;
  /** Keep dynalite's data on disk (a restart keeps the table, as with the real service). */
  readonly dynamoDataDir?: string;
}

/**
 * The local stand-ins, all on 127.0.0.1 with OS-chosen ports: dynalite with the broker's table,
 * the Secrets Manager stand-in seeded with both connections' secrets, the Astrato simulator, and
 * the Keycloak-style server with its OMS API. `stop()` leaves nothing running.
 */
export class TestStack {
  private constructor(
    readonly dynamo: LocalDynamo,
    readonly secretsManager: LocalSecretsManager,
    readonly astrato: AstratoSimulator,
    readonly keycloak: KeycloakSimulator,
    readonly config: BrokerConfig,
    /** The configuration as the functions read it: a file, as in the deployed code asset. */
    readonly configFile: string,
  ) {}

  static async start(options: TestStackOptions = {}): Promise<TestStack> {
    const [dynamo, secretsManager, astrato, keycloak] = await Promise.all([
      startDynamo(options.dynamoDataDir ? { dataDir: options.dynamoDataDir } : {}),
      startSecretsManager({
        seed: {
          'ticket-broker/astrato': JSON.stringify(ASTRATO_CLIENT),
          'ticket-broker/oms': JSON.stringify(OMS_CLIENT),
        },
      }),
      startAstratoSimulator({ clients: [ASTRATO_CLIENT], ...options.astrato }),
      startKeycloakSimulator({ clients: [{ ...OMS_CLIENT }], ...options.keycloak }),
    ]);
    await createTable({ endpoint: dynamo.endpoint, tableName: TABLE_NAME });
    const input: BrokerConfigInput = {
      connections: {
        astrato: {
          kind: 'astrato-oem',
          baseUrl: astrato.url,
          secretId: 'ticket-broker/astrato',
          timeoutMs: 1000,
          // Most tests are about something else than groups; `strict` connections test requireGroup.
          requireGroup: false,
        },
        ...Object.fromEntries(
          Object.entries(options.extraAstratoConnections ?? {}).map(([id, extra]) => [
            id,
            {
              kind: 'astrato-oem',
              baseUrl: astrato.url,
              secretId: 'ticket-broker/astrato',
              timeoutMs: 1000,
              requireGroup: false,
              ...extra,
            },
          ]),
        ),
        oms: {
          kind: 'oauth2-client-credentials',
          tokenUrl: keycloak.tokenUrl,
          clientAuth: options.omsClientAuth ?? 'client_secret_basic',
          secretId: 'ticket-broker/oms',
          probeUrl: keycloak.omsApiUrl,
          vendable: true,
          timeoutMs: 2000,
          ...(options.omsScope ? { scope: options.omsScope } : {}),
        },
      },
    };
    const config = parseBrokerConfig(input);
    const configFile = join(mkdtempSync(join(tmpdir(), 'tb-config-')), CONFIG_FILE_NAME);
    writeFileSync(configFile, JSON.stringify(config));
    return new TestStack(dynamo, secretsManager, astrato, keycloak, config, configFile);
  }

  dynamoClient(): DynamoDBClient {
    return new DynamoDBClient({ ...FAKE_AWS, endpoint: this.dynamo.endpoint, maxAttempts: 1 });
  }

  documentClient(): DynamoDBDocumentClient {
    return DynamoDBDocumentClient.from(this.dynamoClient(), {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  secretsManagerClient(): SecretsManagerClient {
    return new SecretsManagerClient({ ...FAKE_AWS, endpoint: this.secretsManager.endpoint, maxAttempts: 1 });
  }

  /** `npm run callers -- <args>` against this stack, as an operator runs it with its environment. */
  callers(...args: string[]): Promise<ScriptResult> {
    return runScript('scripts/callers.ts', args, { ...process.env, ...this.environment() });
  }

  /** Environment the real handlers read (as CDK or `npm start` would set it), for one function. */
  environment(service: ServiceName = SERVICE_NAMES.issueTicket): NodeJS.ProcessEnv {
    return {
      [ENV.configFile]: this.configFile,
      [ENV.table]: TABLE_NAME,
      [ENV.serviceName]: service,
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamo.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.secretsManager.endpoint,
      AWS_REGION: FAKE_AWS.region,
      AWS_ACCESS_KEY_ID: FAKE_AWS.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_AWS.credentials.secretAccessKey,
    };
  }

  /**
   * The same environment with another configuration: written as a file beside the stack's own,
   * as the functions find it in their code asset.
   */
  environmentWith(
    config: BrokerConfig,
    name = 'custom',
    service: ServiceName = SERVICE_NAMES.issueTicket,
  ): NodeJS.ProcessEnv {
    const file = join(dirname(this.configFile), `${name}-${CONFIG_FILE_NAME}`);
    writeFileSync(file, JSON.stringify(config));
    return { ...this.environment(service), [ENV.configFile]: file };
  }

  /**
   * A token source over the real adapters: one per simulated process (separate memory). The
   * refresher's, so a test can also renew what is due.
   */
  tokenSource(options: { clock: Clock; log?: Log } & Partial<TokenSourceDeps>): {
    tokens: RefreshingTokenSource;
    astrato: AstratoClient;
  } {
    const { clock } = options;
    const log = options.log ?? silentLog;
    const astratoConnection = this.config.connections.astrato;
    const omsConnection = this.config.connections.oms;
    if (astratoConnection?.kind !== 'astrato-oem' || omsConnection?.kind !== 'oauth2-client-credentials') {
      throw new Error('unexpected test configuration');
    }
    const astrato = new AstratoClient({
      baseUrl: astratoConnection.baseUrl,
      timeoutMs: astratoConnection.timeoutMs,
      clock,
      log,
    });
    const providers: Record<string, TokenProvider> = {
      astrato,
      oms: new OAuth2ClientCredentialsProvider({
        tokenUrl: omsConnection.tokenUrl,
        clientAuth: omsConnection.clientAuth,
        timeoutMs: 2000,
        clock,
        log,
        ...(omsConnection.scope ? { scope: omsConnection.scope } : {}),
      }),
    };
    const documentClient = this.documentClient();
    const adapter = { client: documentClient, tableName: TABLE_NAME, clock };
    const sensitive = options.sensitive ?? new SensitiveValues();
    const tokens = new RefreshingTokenSource({
      connections: this.config.connections,
      providers,
      cache: new DynamoTokenCache(adapter),
      leases: new DynamoLeaseStore(adapter),
      secrets: new SecretsManagerStore({ client: this.secretsManagerClient(), clock, log, sensitive }),
      policy: refreshPolicyFrom(this.config.refresh),
      log,
      sensitive,
      ...options,
    });
    return { tokens, astrato };
  }

  async stop(): Promise<void> {
    await Promise.allSettled([
      this.dynamo.stop(),
      this.secretsManager.stop(),
      this.astrato.stop(),
      this.keycloak.stop(),
    ]);
    rmSync(dirname(this.configFile), { recursive: true, force: true });
  }
}
