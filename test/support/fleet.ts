import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type AstratoEndpoint,
  type AstratoSimulator,
  startAstratoSimulator,
} from '../../local/astrato-simulator';
import { createTable, type LocalDynamo, type OperationCounts, startDynamo } from '../../local/dynamodb';
import {
  type KeycloakEndpoint,
  type KeycloakSimulator,
  startKeycloakSimulator,
} from '../../local/keycloak-simulator';
import { type LocalSecretsManager, startSecretsManager } from '../../local/secrets-manager';
import {
  type BrokerConfig,
  type BrokerConfigInput,
  type Connection,
  parseBrokerConfig,
} from '../../shared/config/schema';
import { CONFIG_FILE_NAME, ENV, SERVICE_NAMES, type ServiceName } from '../../shared/runtime/environment';

/**
 * Many connections on a few token hosts, each host a simulator of its own on 127.0.0.1: what the
 * refresher's fan-out tests and the refresher benchmark run against. Connections of one host are
 * listed together (the worst order for spreading); each has a client and a secret of its own.
 */
export interface FleetOptions {
  /** Connections per Keycloak host (oauth2-client-credentials), one simulator each. */
  readonly keycloakHosts: readonly number[];
  /** Connections per Astrato host (astrato-oem), one simulator each. @default none */
  readonly astratoHosts?: readonly number[];
  /** `refresh` settings of the configuration. */
  readonly refresh?: NonNullable<BrokerConfigInput['refresh']>;
  /** oauth2 connections get a `probeUrl` (their simulator's OMS API). @default false */
  readonly probe?: boolean;
  /** The simulators' clock (epoch ms). @default Date.now */
  readonly now?: () => number;
  /**
   * Told as a request opens (+1) and closes (-1) at any host, in order, with the endpoint
   * (Keycloak: `token`, `oms`; Astrato: `token`, `setup`, ...).
   */
  readonly onInFlight?: (host: string, endpoint: KeycloakEndpoint | AstratoEndpoint, change: 1 | -1) => void;
  /** Keycloak access token and Astrato m2m token lifetime. @default the simulators' (300 s, 600 s) */
  readonly tokenLifetimeSeconds?: number;
  /** Per-attempt upstream timeout of every connection. @default 2000 */
  readonly timeoutMs?: number;
}

export const FLEET_TABLE = 'ticket-broker-fleet';

/** Credentials of a fleet connection, as its simulator and its secret hold them. */
export const fleetClient = (id: string) => ({ clientId: `client-${id}`, clientSecret: `secret-${id}-Qx7!` });

export class Fleet {
  private constructor(
    readonly dynamo: LocalDynamo & OperationCounts,
    readonly secretsManager: LocalSecretsManager,
    readonly keycloaks: readonly KeycloakSimulator[],
    readonly astratos: readonly AstratoSimulator[],
    readonly config: BrokerConfig,
    readonly configFile: string,
  ) {}

  static async start(options: FleetOptions): Promise<Fleet> {
    const keycloakIds = options.keycloakHosts.map((count, host) =>
      Array.from({ length: count }, (_, i) => `k${host}-${i}`),
    );
    const astratoIds = (options.astratoHosts ?? []).map((count, host) =>
      Array.from({ length: count }, (_, i) => `a${host}-${i}`),
    );
    const seed = Object.fromEntries(
      [...keycloakIds.flat(), ...astratoIds.flat()].map((id) => [
        `fleet/${id}`,
        JSON.stringify(fleetClient(id)),
      ]),
    );
    const now = options.now ? { now: options.now } : {};
    const lifetime = options.tokenLifetimeSeconds;
    const [dynamo, secretsManager, keycloaks, astratos] = await Promise.all([
      startDynamo(),
      startSecretsManager({ seed }),
      Promise.all(
        keycloakIds.map(async (ids) => {
          let host = '';
          const sim = await startKeycloakSimulator({
            ...now,
            clients: ids.map(fleetClient),
            ...(lifetime ? { accessTokenLifetimeSeconds: lifetime } : {}),
            ...(options.onInFlight
              ? { onInFlight: (endpoint, change) => options.onInFlight?.(host, endpoint, change) }
              : {}),
          });
          host = new URL(sim.url).host;
          return sim;
        }),
      ),
      Promise.all(
        astratoIds.map(async (ids) => {
          let host = '';
          const sim = await startAstratoSimulator({
            ...now,
            clients: ids.map(fleetClient),
            ...(lifetime ? { tokenLifetimeSeconds: lifetime } : {}),
            ...(options.onInFlight
              ? { onInFlight: (endpoint, change) => options.onInFlight?.(host, endpoint, change) }
              : {}),
          });
          host = new URL(sim.url).host;
          return sim;
        }),
      ),
    ]);
    await createTable({ endpoint: dynamo.endpoint, tableName: FLEET_TABLE });
    const timeoutMs = options.timeoutMs ?? 2000;
    const connections: Record<string, BrokerConfigInput['connections'][string]> = {};
    keycloakIds.forEach((ids, host) => {
      const sim = keycloaks[host] as KeycloakSimulator;
      for (const id of ids)
        connections[id] = {
          kind: 'oauth2-client-credentials',
          tokenUrl: sim.tokenUrl,
          clientAuth: 'client_secret_basic',
          secretId: `fleet/${id}`,
          timeoutMs,
          ...(options.probe ? { probeUrl: sim.omsApiUrl } : {}),
        };
    });
    astratoIds.forEach((ids, host) => {
      const sim = astratos[host] as AstratoSimulator;
      for (const id of ids)
        connections[id] = {
          kind: 'astrato-oem',
          baseUrl: sim.url,
          secretId: `fleet/${id}`,
          timeoutMs,
          requireGroup: false,
        };
    });
    const config = parseBrokerConfig({
      connections,
      ...(options.refresh ? { refresh: options.refresh } : {}),
    });
    const configFile = join(mkdtempSync(join(tmpdir(), 'tb-fleet-')), CONFIG_FILE_NAME);
    writeFileSync(configFile, JSON.stringify(config));
    return new Fleet(dynamo, secretsManager, keycloaks, astratos, config, configFile);
  }

  /** Connection ids, in configuration order. */
  ids(): string[] {
    return Object.keys(this.config.connections);
  }

  connection(id: string): Connection {
    const connection = this.config.connections[id];
    if (!connection) throw new Error(`no connection ${id}`);
    return connection;
  }

  /** Environment the real handlers read, for one function. */
  environment(service: ServiceName = SERVICE_NAMES.refreshTokens): NodeJS.ProcessEnv {
    return {
      [ENV.configFile]: this.configFile,
      [ENV.table]: FLEET_TABLE,
      [ENV.serviceName]: service,
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamo.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.secretsManager.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'fleet',
      AWS_SECRET_ACCESS_KEY: 'fleet',
    };
  }

  dynamoClient(): DynamoDBClient {
    return new DynamoDBClient({
      endpoint: this.dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'fleet', secretAccessKey: 'fleet' },
    });
  }

  documentClient(): DynamoDBDocumentClient {
    return DynamoDBDocumentClient.from(this.dynamoClient(), {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  secretsManagerClient(): SecretsManagerClient {
    return new SecretsManagerClient({
      endpoint: this.secretsManager.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'fleet', secretAccessKey: 'fleet' },
    });
  }

  /** `GetSecretValue` calls so far. */
  secretReads(): number {
    return this.secretsManager.counts().GetSecretValue ?? 0;
  }

  /** Token requests so far, over every host. */
  tokenRequests(): number {
    return (
      this.keycloaks.reduce((sum, sim) => sum + sim.counts().token, 0) +
      this.astratos.reduce((sum, sim) => sum + sim.counts().token, 0)
    );
  }

  async stop(): Promise<void> {
    await Promise.allSettled([
      this.dynamo.stop(),
      this.secretsManager.stop(),
      ...this.keycloaks.map((sim) => sim.stop()),
      ...this.astratos.map((sim) => sim.stop()),
    ]);
    rmSync(dirname(this.configFile), { recursive: true, force: true });
  }
}
