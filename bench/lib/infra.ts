/**
 * Benchmark infrastructure, in its own process: the Astrato and Keycloak simulators, dynalite and
 * the Secrets Manager stand-in, the broker's table and one caller. Prints `READY <json>` with
 * every endpoint, then runs until its stdin closes.
 *
 *   node --import tsx bench/lib/infra.ts '<json options>'
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startAstratoSimulator } from '../../local/astrato-simulator';
import { createTable, startDynamo } from '../../local/dynamodb';
import { startKeycloakSimulator } from '../../local/keycloak-simulator';
import { startSecretsManager } from '../../local/secrets-manager';
import { createCaller } from '../../shared/callers/admin';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { type BrokerConfigInput, parseBrokerConfig } from '../../shared/config/schema';

export interface InfraOptions {
  readonly tokenLifetimeSeconds?: number;
}

export interface InfraEndpoints {
  readonly config: unknown;
  readonly tableName: string;
  readonly dynamodb: string;
  readonly secretsManager: string;
  readonly astrato: string;
  readonly keycloak: string;
  readonly callerKey: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as InfraOptions;
const astratoClient = { clientId: 'bench-astrato', clientSecret: 'bench-astrato-secret' };
const omsClient = { clientId: 'bench-oms', clientSecret: 'bench-oms-secret' };
const tableName = 'ticket-broker-bench';

const astrato = await startAstratoSimulator({
  clients: [astratoClient],
  ...(options.tokenLifetimeSeconds ? { tokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}),
});
const keycloak = await startKeycloakSimulator({
  clients: [{ ...omsClient }],
  ...(options.tokenLifetimeSeconds ? { accessTokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}),
});
const dynamo = await startDynamo();
await createTable({ endpoint: dynamo.endpoint, tableName });
const secretsManager = await startSecretsManager({
  seed: { 'bench/astrato': JSON.stringify(astratoClient), 'bench/oms': JSON.stringify(omsClient) },
});
const input: BrokerConfigInput = {
  connections: {
    astrato: { kind: 'astrato-oem', baseUrl: astrato.url, secretId: 'bench/astrato' },
    oms: {
      kind: 'oauth2-client-credentials',
      tokenUrl: keycloak.tokenUrl,
      clientAuth: 'client_secret_basic',
      secretId: 'bench/oms',
      probeUrl: keycloak.omsApiUrl,
      vendable: true,
    },
  },
};
const config = parseBrokerConfig(input);
const store = new DynamoCallerStore({
  client: DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'b', secretAccessKey: 'b' },
    }),
  ),
  tableName,
});
const { key } = await createCaller(
  store,
  { name: 'bench', connections: ['astrato', 'oms'], anyEmail: true, groupIds: ['sales'], tokens: true },
  { connections: config.connections, now: new Date() },
);
const endpoints: InfraEndpoints = {
  config,
  tableName,
  dynamodb: dynamo.endpoint,
  secretsManager: secretsManager.endpoint,
  astrato: astrato.url,
  keycloak: keycloak.url,
  callerKey: key,
};
process.stdout.write(`READY ${JSON.stringify(endpoints)}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await Promise.allSettled([astrato.stop(), keycloak.stop(), dynamo.stop(), secretsManager.stop()]);
  process.exit(0);
});
