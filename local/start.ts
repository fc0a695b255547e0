/**
 * `npm start`: the whole product on 127.0.0.1 (docs/design.md "Local stack").
 *
 *   npm start [-- --data-dir <dir>] [--refresh-interval <seconds>]
 *
 * Environment: PORT (broker API port, default 3000), TICKET_BROKER_CONFIG (a configuration file
 * instead of the built-in one), TICKET_BROKER_SECRETS (its secret values, default
 * local/secrets.local.json, never committed), TICKET_BROKER_PORTS=ephemeral (every component on
 * an OS-chosen port, for tests).
 */
import { parseArgs } from 'node:util';
import {
  DEFAULT_PORTS,
  DEV_GROUPS,
  LOCAL_TABLE,
  type LocalStack,
  LocalStackError,
  startLocalStack,
} from './stack';

function parsePort(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new LocalStackError(`${name} must be a port number, got "${value}"`);
  return port;
}

function banner(stack: LocalStack, dataDir: string | undefined): string {
  const { urls, devCallerKey, config } = stack;
  const curl = `curl -s -X POST ${urls.api}/v1/tickets -H 'Authorization: Bearer ${devCallerKey}' -H 'Content-Type: application/json' -d '{"email":"ada@example.com","groupIds":["sales"]}'`;
  const scopes = Object.entries(config.connections)
    .map(([id, c]) =>
      c.kind === 'astrato-oem' ? `${id}: tickets (groups ${DEV_GROUPS.join(',')})` : `${id}: tokens`,
    )
    .join('; ');
  return [
    '',
    'ticket-broker local stack is up',
    '',
    `  Broker API        ${urls.api}/v1   (GET /v1/health needs no key)`,
    `  Demo SaaS page    ${urls.demo}/   (same site as the Astrato simulator: the embed works)`,
    `  Demo, cross-site  ${urls.demoCrossSite}/   (third-party cookies: see the fallback)`,
    `  Astrato sim       ${urls.astrato}`,
    `  Keycloak token    ${urls.keycloakToken}`,
    `  OMS API           ${urls.omsApi}`,
    `  DynamoDB          ${urls.dynamodb}   (table ${LOCAL_TABLE}, ${dataDir ? `kept in ${dataDir}` : 'in memory'})`,
    `  Secrets Manager   ${urls.secretsManager}`,
    '',
    `  Development caller key (${scopes}):`,
    `    ${devCallerKey}`,
    '',
    '  Issue a ticket:',
    `    ${curl}`,
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'refresh-interval': { type: 'string' },
    },
  });
  const ephemeral = process.env.TICKET_BROKER_PORTS === 'ephemeral';
  const apiPort = parsePort(process.env.PORT, 'PORT');
  const ports = ephemeral
    ? Object.fromEntries(Object.keys(DEFAULT_PORTS).map((component) => [component, 0]))
    : { ...(apiPort !== undefined ? { api: apiPort } : {}) };
  const interval = values['refresh-interval'] === undefined ? 60 : Number(values['refresh-interval']);
  if (!Number.isFinite(interval) || interval < 1)
    throw new LocalStackError('--refresh-interval must be at least 1 (seconds)');

  const stack = await startLocalStack({
    ports,
    refreshIntervalMs: interval * 1000,
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    ...(process.env.TICKET_BROKER_CONFIG ? { configPath: process.env.TICKET_BROKER_CONFIG } : {}),
    ...(process.env.TICKET_BROKER_SECRETS ? { secretsPath: process.env.TICKET_BROKER_SECRETS } : {}),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping...\n`);
    stack.stop().then(
      () => {
        process.stdout.write('stopped; nothing left listening.\n');
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Only now: whoever reads the banner may press Ctrl-C at once, and must get a clean stop.
  process.stdout.write(banner(stack, values['data-dir']));
}

main().catch((error: unknown) => {
  if (error instanceof LocalStackError) {
    process.stderr.write(`npm start: ${error.message}\n`);
  } else if ((error as { code?: string }).code === 'EADDRINUSE') {
    process.stderr.write(
      `npm start: a port is already in use (${(error as Error).message}); set PORT or stop the other process\n`,
    );
  } else {
    process.stderr.write(
      `npm start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
});
