import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { createCaller } from '../shared/callers/admin';
import { CallerAuthenticator } from '../shared/callers/authenticator';
import { DynamoCallerStore } from '../shared/callers/dynamo-caller-store';
import { systemClock } from '../shared/clock';
import {
  type BrokerConfig,
  type BrokerConfigInput,
  ConfigValidationError,
  parseBrokerConfig,
  parseBrokerConfigJson,
} from '../shared/config/schema';
import { CONFIG_FILE_NAME, ENV, SERVICE_NAMES } from '../shared/runtime/environment';
import { startLocalApiGateway } from './api-gateway';
import {
  type AstratoSimulator,
  type AstratoSimulatorOptions,
  startAstratoSimulator,
} from './astrato-simulator';
import { type DemoApp, startDemoApp } from './demo-app';
import { createTable, type LocalDynamo, startDynamo } from './dynamodb';
import type { LocalServer } from './http-kit';
import {
  type KeycloakSimulator,
  type KeycloakSimulatorOptions,
  startKeycloakSimulator,
} from './keycloak-simulator';
import { lambdaContext, scheduledEvent } from './lambda-context';
import { type LocalSecretsManager, startSecretsManager } from './secrets-manager';

/**
 * The whole product on one machine (docs/design.md "Local stack"): dynalite, the Secrets Manager
 * stand-in, the Astrato and Keycloak simulators, the broker API (API Gateway emulation in front of
 * the same handler modules the CDK app bundles), the refresher on a timer, and the demo SaaS page.
 */
export const DEFAULT_PORTS = {
  api: 3000,
  demo: 3001,
  astrato: 4010,
  keycloak: 4020,
  dynamodb: 4030,
  secretsManager: 4040,
} as const;

export type Component = keyof typeof DEFAULT_PORTS;

export const LOCAL_TABLE = 'ticket-broker-local';
export const DEV_GROUPS = ['sales', 'support', 'finance'];
/** Simulator credentials of the built-in configuration. */
export const SIMULATOR_CLIENTS = {
  astrato: { clientId: 'astrato-client', clientSecret: 'astrato-local-secret' },
  oms: { clientId: 'oms-client', clientSecret: 'oms-local-secret' },
} as const;

export interface LocalStackOptions {
  /** Port per component; 0 lets the OS choose. @default DEFAULT_PORTS */
  readonly ports?: Partial<Record<Component, number>>;
  /** A configuration file to run with instead of the built-in one (pointing at the simulators). */
  readonly configPath?: string;
  /** Secret values for `configPath`: JSON `{ "<secretId>": {"clientId","clientSecret"} }`. */
  readonly secretsPath?: string;
  /** Keep DynamoDB's state (tokens, callers, status) here across restarts; in memory otherwise. */
  readonly dataDir?: string;
  /** @default 60000 */
  readonly refreshIntervalMs?: number;
  readonly astrato?: AstratoSimulatorOptions;
  readonly keycloak?: KeycloakSimulatorOptions;
}

export interface LocalStack {
  readonly config: BrokerConfig;
  readonly urls: {
    readonly api: string;
    /** Empty when the demo is off (the configuration has no astrato-oem connection). */
    readonly demo: string;
    /** The demo on another site (localhost vs 127.0.0.1): the third-party-cookie case. Empty when off. */
    readonly demoCrossSite: string;
    readonly astrato: string;
    readonly keycloakToken: string;
    readonly omsApi: string;
    readonly dynamodb: string;
    readonly secretsManager: string;
  };
  readonly devCallerKey: string;
  /** The demo page runs only when the configuration has an astrato-oem connection to issue tickets for. */
  readonly demoEnabled: boolean;
  /**
   * The environment under which `npm run callers` manages this stack's callers, with no AWS
   * account: the local DynamoDB endpoint, a region, placeholder credentials, the table and the
   * configuration file the stack runs with (the built-in one is written to a file for this).
   */
  readonly callersEnvironment: Readonly<Record<string, string>>;
  readonly astrato: AstratoSimulator;
  readonly keycloak: KeycloakSimulator;
  /** Runs the refresher now (as the timer does). */
  refreshNow(): Promise<unknown>;
  stop(): Promise<void>;
}

/** A configuration or secrets problem, reported in one line naming what is wrong. */
export class LocalStackError extends Error {
  override readonly name = 'LocalStackError';
}

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

function readSecretsFile(path: string): Record<string, { clientId: string; clientSecret: string }> {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new LocalStackError(`cannot read secrets file ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new LocalStackError(
      `secrets file ${path} must be a JSON object { "<secretId>": {"clientId","clientSecret"} }`,
    );
  }
  const secrets: Record<string, { clientId: string; clientSecret: string }> = {};
  for (const [secretId, value] of Object.entries(document)) {
    const { clientId, clientSecret } = (value ?? {}) as Record<string, unknown>;
    if (typeof clientId !== 'string' || typeof clientSecret !== 'string' || !clientId || !clientSecret) {
      throw new LocalStackError(
        `secrets file ${path}: "${secretId}" must be {"clientId","clientSecret"} (non-empty strings)`,
      );
    }
    secrets[secretId] = { clientId, clientSecret };
  }
  return secrets;
}

/** The built-in configuration: both connections pointing at the simulators. */
function builtInConfig(astrato: AstratoSimulator, keycloak: KeycloakSimulator): BrokerConfigInput {
  return {
    connections: {
      astrato: { kind: 'astrato-oem', baseUrl: astrato.url, secretId: 'ticket-broker/astrato' },
      oms: {
        kind: 'oauth2-client-credentials',
        tokenUrl: keycloak.tokenUrl,
        clientAuth: 'client_secret_post',
        secretId: 'ticket-broker/oms',
        probeUrl: keycloak.omsApiUrl,
        vendable: true,
      },
    },
  };
}

/** Reuses the development key kept in the data directory while its caller is still valid. */
async function developmentKey(
  store: DynamoCallerStore,
  config: BrokerConfig,
  dataDir?: string,
): Promise<string> {
  const keyFile = dataDir ? join(dataDir, 'dev-caller-key') : undefined;
  if (keyFile && existsSync(keyFile)) {
    const saved = readFileSync(keyFile, 'utf8').trim();
    const valid = await new CallerAuthenticator({ store, clock: systemClock })
      .authenticate(`Bearer ${saved}`, AbortSignal.timeout(10_000))
      .then(() => true)
      .catch(() => false);
    if (valid) return saved;
  }
  const ids = Object.keys(config.connections);
  // The demo signs in whoever the person types: tickets for any email, said explicitly.
  const tickets = ids.some((id) => config.connections[id]?.kind === 'astrato-oem');
  const { key } = await createCaller(
    store,
    {
      name: 'local development',
      connections: ids,
      groupIds: DEV_GROUPS,
      tokens: true,
      ...(tickets ? { anyEmail: true } : {}),
    },
    { connections: config.connections, now: new Date() },
  );
  if (keyFile) {
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
  }
  return key;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const port = (component: Component) => options.ports?.[component] ?? DEFAULT_PORTS[component];
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((component) => component.stop()));
  };
  try {
    // Configuration first: a bad file fails before anything listens.
    let custom: BrokerConfig | undefined;
    let customSecrets: Record<string, { clientId: string; clientSecret: string }> = {};
    if (options.configPath) {
      let text: string;
      try {
        text = readFileSync(options.configPath, 'utf8');
      } catch {
        throw new LocalStackError(`cannot read configuration file ${options.configPath}`);
      }
      custom = parseBrokerConfigJson(text, options.configPath);
      const secretsPath = options.secretsPath ?? 'local/secrets.local.json';
      customSecrets = existsSync(secretsPath) ? readSecretsFile(secretsPath) : {};
      for (const [id, connection] of Object.entries(custom.connections)) {
        if (!customSecrets[connection.secretId]) {
          throw new LocalStackError(
            `connection "${id}": secret "${connection.secretId}" is not in ${secretsPath} (JSON { "${connection.secretId}": {"clientId","clientSecret"} })`,
          );
        }
      }
    }
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });

    const astrato = await startAstratoSimulator({
      port: port('astrato'),
      clients: [SIMULATOR_CLIENTS.astrato],
      ...options.astrato,
    });
    started.push(astrato);
    const keycloak = await startKeycloakSimulator({
      port: port('keycloak'),
      clients: [{ ...SIMULATOR_CLIENTS.oms }],
      ...options.keycloak,
    });
    started.push(keycloak);
    const dynamo: LocalDynamo = await startDynamo({
      port: port('dynamodb'),
      ...(options.dataDir ? { dataDir: join(options.dataDir, 'dynamodb') } : {}),
    });
    started.push(dynamo);
    await createTable({ endpoint: dynamo.endpoint, tableName: LOCAL_TABLE });

    const config =
      custom ?? parseBrokerConfig(builtInConfig(astrato, keycloak), 'built-in local configuration');
    const seed: Record<string, string> = {};
    if (custom) {
      for (const [secretId, value] of Object.entries(customSecrets)) seed[secretId] = JSON.stringify(value);
    } else {
      seed['ticket-broker/astrato'] = JSON.stringify(SIMULATOR_CLIENTS.astrato);
      seed['ticket-broker/oms'] = JSON.stringify(SIMULATOR_CLIENTS.oms);
    }
    const secretsManager: LocalSecretsManager = await startSecretsManager({
      port: port('secretsManager'),
      seed,
    });
    started.push(secretsManager);

    // The validated configuration as a file, as the deployed functions find it in their code.
    const configDir = mkdtempSync(join(tmpdir(), 'ticket-broker-local-'));
    started.push({ stop: async () => rmSync(configDir, { recursive: true, force: true }) });
    const configFile = join(configDir, CONFIG_FILE_NAME);
    writeFileSync(configFile, JSON.stringify(config));

    // The handlers read these at import, exactly as on Lambda.
    Object.assign(process.env, {
      [ENV.configFile]: configFile,
      [ENV.table]: LOCAL_TABLE,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    });
    // Each handler reads its own service name at import, as on Lambda.
    process.env[ENV.serviceName] = SERVICE_NAMES.issueTicket;
    const api = (await import('../functions/issue-ticket/handler')).handler as unknown as Handler<
      APIGatewayProxyEventV2,
      APIGatewayProxyResultV2
    >;
    process.env[ENV.serviceName] = SERVICE_NAMES.refreshTokens;
    const refresher = (await import('../functions/refresh-tokens/handler')).handler as unknown as Handler<
      unknown,
      unknown
    >;

    const store = new DynamoCallerStore({
      client: DynamoDBDocumentClient.from(
        new DynamoDBClient({
          endpoint: dynamo.endpoint,
          region: 'us-east-1',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }),
      ),
      tableName: LOCAL_TABLE,
    });
    const devCallerKey = await developmentKey(store, config, options.dataDir);

    // The configuration `npm run callers` checks connection ids against: the file given, else the
    // validated one the functions read (it lives as long as the stack).
    const callersConfigFile = options.configPath ? resolve(options.configPath) : configFile;
    const callersEnvironment = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      TABLE_NAME: LOCAL_TABLE,
      TICKET_BROKER_CONFIG: callersConfigFile,
    };

    let refreshing: Promise<unknown> | undefined;
    const refreshNow = () => {
      refreshing ??= refresher(scheduledEvent(), lambdaContext('refresh-tokens', 30_000))
        .catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }))
        .finally(() => {
          refreshing = undefined;
        });
      return refreshing;
    };
    await refreshNow();
    const timer = setInterval(() => void refreshNow(), options.refreshIntervalMs ?? 60_000);
    started.push({
      stop: async () => {
        clearInterval(timer);
        await refreshing;
      },
    });

    const gateway: LocalServer = await startLocalApiGateway({ handler: api, port: port('api') });
    started.push(gateway);

    // The demo page asks for tickets: without an astrato-oem connection it has nothing to show.
    const astratoConnection = Object.entries(config.connections).find(([, c]) => c.kind === 'astrato-oem');
    let demo: DemoApp | undefined;
    if (astratoConnection?.[1].kind === 'astrato-oem') {
      demo = await startDemoApp({
        port: port('demo'),
        brokerUrl: gateway.url,
        callerKey: devCallerKey,
        // The simulator's app UI stands for the tenant's embed link (simulator-only path).
        dashboardUrl: `${astratoConnection[1].baseUrl}/dashboard`,
        connection: astratoConnection[0],
        groups: [...DEV_GROUPS, 'admins'],
      });
      started.push(demo);
      // The one stated assumption: the tenant allows the SaaS page's origins for credentialed CORS.
      astrato.setEmbeddingOrigins([demo.url, demo.crossSiteUrl]);
    }

    return {
      config,
      urls: {
        api: gateway.url,
        demo: demo?.url ?? '',
        demoCrossSite: demo?.crossSiteUrl ?? '',
        astrato: astrato.url,
        keycloakToken: keycloak.tokenUrl,
        omsApi: keycloak.omsApiUrl,
        dynamodb: dynamo.endpoint,
        secretsManager: secretsManager.endpoint,
      },
      devCallerKey,
      demoEnabled: demo !== undefined,
      callersEnvironment,
      astrato,
      keycloak,
      refreshNow,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    if (error instanceof ConfigValidationError) throw new LocalStackError(error.message);
    throw error;
  }
}
