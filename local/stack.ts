import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
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
import { SensitiveValues } from '../shared/logging/redaction';
import { apiFunction } from '../shared/runtime/api-function';
import {
  CONFIG_FILE_NAME,
  ENV,
  readRuntimeEnvironment,
  SERVICE_NAMES,
  type ServiceName,
} from '../shared/runtime/environment';
import { createRefresherRuntime, refresherFunction } from '../shared/runtime/refresher-function';
import {
  createRuntime,
  DYNAMODB_CLIENT_SETTINGS,
  type RuntimeOptions,
  SECRETS_MANAGER_CLIENT_SETTINGS,
} from '../shared/runtime/runtime';
import { type LambdaHandler, startLocalApiGateway } from './api-gateway';
import {
  type AstratoSimulator,
  type AstratoSimulatorOptions,
  startAstratoSimulator,
} from './astrato-simulator';
import { type DemoApp, startDemoApp } from './demo-app';
import { createTable, LOCAL_AWS, type LocalDynamo, startDynamo } from './dynamodb';
import { createFunctionLogs, type FunctionLogs } from './function-logs';
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
  /**
   * How the functions' log lines are shown (local/function-logs.ts).
   * @default their JSON lines, as Lambda prints them, at once
   */
  readonly logs?: FunctionLogs;
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

/** Region and placeholder credentials of every local stand-in: no AWS account is involved. */
type SecretValues = Record<string, { clientId: string; clientSecret: string }>;

/**
 * The configuration file the stack runs with, and its secret values, read and checked before
 * anything listens: a bad file fails at once. `undefined` when the stack runs the built-in one.
 */
function readCustomConfiguration(
  options: LocalStackOptions,
): { config: BrokerConfig; secrets: SecretValues } | undefined {
  if (!options.configPath) return undefined;
  let text: string;
  try {
    text = readFileSync(options.configPath, 'utf8');
  } catch {
    throw new LocalStackError(`cannot read configuration file ${options.configPath}`);
  }
  const config = parseBrokerConfigJson(text, options.configPath);
  const secretsPath = options.secretsPath ?? 'local/secrets.local.json';
  const secrets = existsSync(secretsPath) ? readSecretsFile(secretsPath) : {};
  for (const [id, connection] of Object.entries(config.connections)) {
    if (!secrets[connection.secretId]) {
      throw new LocalStackError(
        `connection "${id}": secret "${connection.secretId}" is not in ${secretsPath} (JSON { "${connection.secretId}": {"clientId","clientSecret"} })`,
      );
    }
  }
  return { config, secrets };
}

/** The secrets the Secrets Manager stand-in starts with: the file's, or the simulators' own. */
function secretSeed(custom: { secrets: SecretValues } | undefined): Record<string, string> {
  const values: SecretValues = custom?.secrets ?? {
    'ticket-broker/astrato': SIMULATOR_CLIENTS.astrato,
    'ticket-broker/oms': SIMULATOR_CLIENTS.oms,
  };
  return Object.fromEntries(
    Object.entries(values).map(([secretId, value]) => [secretId, JSON.stringify(value)]),
  );
}

/** The validated configuration as a file, as the deployed functions find it in their code. */
function writeFunctionConfig(config: BrokerConfig): { file: string; stop(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'ticket-broker-local-'));
  const file = join(dir, CONFIG_FILE_NAME);
  writeFileSync(file, JSON.stringify(config));
  return { file, stop: async () => rmSync(dir, { recursive: true, force: true }) };
}

/** Where one stack's functions find their table, secrets and configuration. */
interface FunctionSurroundings {
  readonly configFile: string;
  readonly dynamodb: string;
  readonly secretsManager: string;
  readonly logs: FunctionLogs;
}

/**
 * One of the broker's functions as this stack runs it: read from an environment of the stack's own
 * (the same variables the CDK construct sets), with SDK clients pointed at the stack's stand-ins
 * and the local logging. Nothing comes from `process.env`, so two stacks in one process each serve
 * their own configuration.
 */
function functionRuntime(service: ServiceName, at: FunctionSurroundings) {
  const environment = readRuntimeEnvironment({
    [ENV.configFile]: at.configFile,
    [ENV.table]: LOCAL_TABLE,
    [ENV.serviceName]: service,
  });
  const sensitive = new SensitiveValues();
  const options: RuntimeOptions = {
    dynamoClient: new DynamoDBClient({ ...DYNAMODB_CLIENT_SETTINGS, ...LOCAL_AWS, endpoint: at.dynamodb }),
    secretsManagerClient: new SecretsManagerClient({
      ...SECRETS_MANAGER_CLIENT_SETTINGS,
      ...LOCAL_AWS,
      endpoint: at.secretsManager,
    }),
    sensitive,
    logger: at.logs.logger(service, sensitive),
    metricsLogger: at.logs.metricsLogger,
  };
  return { environment, options };
}

/** The scheduled refresher as the Lambda runtime calls it. */
type ScheduledHandler = (event: unknown, context: Context) => Promise<unknown>;

/** The two functions, built by their composition roots as the handler modules build them. */
function buildFunctions(at: FunctionSurroundings): { api: LambdaHandler; refresher: ScheduledHandler } {
  const api = functionRuntime(SERVICE_NAMES.issueTicket, at);
  const refresher = functionRuntime(SERVICE_NAMES.refreshTokens, at);
  return {
    api: apiFunction(createRuntime(api.environment, api.options)) as unknown as LambdaHandler,
    refresher: refresherFunction(
      createRefresherRuntime(refresher.environment, refresher.options),
    ) as unknown as ScheduledHandler,
  };
}

/** The refresher on a timer, as the schedule runs it, and once now; a run is never doubled. */
function scheduleRefresher(refresher: ScheduledHandler, intervalMs: number) {
  let refreshing: Promise<unknown> | undefined;
  const refreshNow = () => {
    refreshing ??= refresher(scheduledEvent(), lambdaContext(SERVICE_NAMES.refreshTokens, 30_000))
      .catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
  const timer = setInterval(() => void refreshNow(), intervalMs);
  return {
    refreshNow,
    stop: async () => {
      clearInterval(timer);
      await refreshing;
    },
  };
}

/** The demo SaaS page, when the configuration has an astrato-oem connection to issue tickets for. */
async function startDemo(
  config: BrokerConfig,
  astrato: AstratoSimulator,
  brokerUrl: string,
  callerKey: string,
  port: number,
): Promise<DemoApp | undefined> {
  const connection = Object.entries(config.connections).find(([, c]) => c.kind === 'astrato-oem');
  if (connection?.[1].kind !== 'astrato-oem') return undefined;
  const demo = await startDemoApp({
    port,
    brokerUrl,
    callerKey,
    // The simulator's app UI stands for the tenant's embed link (simulator-only path).
    dashboardUrl: `${connection[1].baseUrl}/dashboard`,
    connection: connection[0],
    groups: [...DEV_GROUPS, 'admins'],
  });
  // One of the stated assumptions: the tenant allows the SaaS page's origins for credentialed CORS.
  astrato.setEmbeddingOrigins([demo.url, demo.crossSiteUrl]);
  return demo;
}

/**
 * Starts the whole product on 127.0.0.1 (docs/design.md "Local stack"), in named steps: the
 * configuration checked, the stand-ins, the configuration file, the two functions, the development
 * caller, the refresher's schedule, the API Gateway emulation, the demo. Whatever started is
 * stopped again if a later step fails. Each stack keeps to its own configuration and stand-ins, so
 * a process may run several.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const port = (component: Component) => options.ports?.[component] ?? DEFAULT_PORTS[component];
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((component) => component.stop()));
  };
  const keep = <T extends { stop(): Promise<void> }>(component: T): T => {
    started.push(component);
    return component;
  };
  try {
    const custom = readCustomConfiguration(options);
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });

    const astrato = keep(
      await startAstratoSimulator({
        port: port('astrato'),
        clients: [SIMULATOR_CLIENTS.astrato],
        ...options.astrato,
      }),
    );
    const keycloak = keep(
      await startKeycloakSimulator({
        port: port('keycloak'),
        clients: [{ ...SIMULATOR_CLIENTS.oms }],
        ...options.keycloak,
      }),
    );
    const dynamo: LocalDynamo = keep(
      await startDynamo({
        port: port('dynamodb'),
        ...(options.dataDir ? { dataDir: join(options.dataDir, 'dynamodb') } : {}),
      }),
    );
    await createTable({ endpoint: dynamo.endpoint, tableName: LOCAL_TABLE });
    const secretsManager: LocalSecretsManager = keep(
      await startSecretsManager({ port: port('secretsManager'), seed: secretSeed(custom) }),
    );
    const config =
      custom?.config ?? parseBrokerConfig(builtInConfig(astrato, keycloak), 'built-in local configuration');
    const configFile = keep(writeFunctionConfig(config)).file;

    const functions = buildFunctions({
      configFile,
      dynamodb: dynamo.endpoint,
      secretsManager: secretsManager.endpoint,
      logs: options.logs ?? createFunctionLogs(),
    });
    const store = new DynamoCallerStore({
      client: DynamoDBDocumentClient.from(new DynamoDBClient({ ...LOCAL_AWS, endpoint: dynamo.endpoint })),
      tableName: LOCAL_TABLE,
    });
    const devCallerKey = await developmentKey(store, config, options.dataDir);

    const refresher = keep(scheduleRefresher(functions.refresher, options.refreshIntervalMs ?? 60_000));
    await refresher.refreshNow();
    const gateway: LocalServer = keep(
      await startLocalApiGateway({ handler: functions.api, port: port('api') }),
    );
    const demo = await startDemo(config, astrato, gateway.url, devCallerKey, port('demo'));
    if (demo) keep(demo);

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
      // The configuration `npm run callers` checks connection ids against: the file given, else the
      // validated one the functions read (it lives as long as the stack).
      callersEnvironment: {
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_REGION: process.env.AWS_REGION ?? LOCAL_AWS.region,
        AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
        TABLE_NAME: LOCAL_TABLE,
        TICKET_BROKER_CONFIG: options.configPath ? resolve(options.configPath) : configFile,
      },
      astrato,
      keycloak,
      refreshNow: refresher.refreshNow,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    if (error instanceof ConfigValidationError) throw new LocalStackError(error.message);
    throw error;
  }
}
