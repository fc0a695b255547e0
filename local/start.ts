/**
 * `npm start`: the whole product on 127.0.0.1 (docs/design.md "Local stack").
 *
 *   npm start [-- --data-dir <dir>] [--refresh-interval <seconds>] [--json-logs]
 *
 * After the banner, one short line per request, per refresher run and per warning or error of the
 * functions (local/dev-log-format.ts); with --json-logs, the functions' JSON lines as Lambda
 * prints them. Before the banner, nothing but a failure to start.
 *
 * Environment: PORT (broker API port, default 3000), TICKET_BROKER_CONFIG (a configuration file
 * instead of the built-in one), TICKET_BROKER_SECRETS (its secret values, default
 * local/secrets.local.json, never committed), TICKET_BROKER_PORTS=ephemeral (every component on
 * an OS-chosen port, for tests).
 */
import { parseArgs } from 'node:util';
import { createFunctionLogs } from './function-logs';
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

/** A value as a POSIX shell reads it back unchanged. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The request to show: a ticket when an astrato-oem connection exists, else a token or a status. */
function example(stack: LocalStack): { title: string; command: string } {
  const { urls, devCallerKey, config } = stack;
  const auth = `-H 'Authorization: Bearer ${devCallerKey}'`;
  const connections = Object.entries(config.connections);
  if (connections.some(([, c]) => c.kind === 'astrato-oem')) {
    return {
      title: 'Issue a ticket:',
      command: `curl -s -X POST ${urls.api}/v1/tickets ${auth} -H 'Content-Type: application/json' -d '{"email":"ada@example.com","groupIds":["sales"]}'`,
    };
  }
  const vendable = connections.find(([, c]) => c.kind === 'oauth2-client-credentials' && c.vendable);
  if (vendable) {
    return {
      title: `Get a ${vendable[0]} token:`,
      command: `curl -s -X POST ${urls.api}/v1/connections/${vendable[0]}/token ${auth}`,
    };
  }
  const first = connections[0]?.[0] ?? '';
  return {
    title: `Read the ${first} connection's status:`,
    command: `curl -s ${urls.api}/v1/connections/${first}/status ${auth}`,
  };
}

function banner(stack: LocalStack, dataDir: string | undefined): string {
  const { urls, devCallerKey, config } = stack;
  const scopes = Object.entries(config.connections)
    .map(([id, c]) =>
      c.kind === 'astrato-oem' ? `${id}: tickets (groups ${DEV_GROUPS.join(',')})` : `${id}: tokens`,
    )
    .join('; ');
  const { title, command } = example(stack);
  const environment = Object.entries(stack.callersEnvironment)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join(' ');
  return [
    '',
    'ticket-broker local stack is up',
    '',
    `  Broker API        ${urls.api}/v1   (GET /v1/health needs no key)`,
    ...(stack.demoEnabled
      ? [
          `  Demo SaaS page    ${urls.demo}/   (same site as the Astrato simulator: the embed works)`,
          `  Demo, cross-site  ${urls.demoCrossSite}/   (third-party cookies: see the fallback)`,
        ]
      : ['  Demo SaaS page    off (the configuration has no astrato-oem connection to issue tickets for)']),
    `  Astrato sim       ${urls.astrato}`,
    `  Keycloak token    ${urls.keycloakToken}`,
    `  OMS API           ${urls.omsApi}`,
    `  DynamoDB          ${urls.dynamodb}   (table ${LOCAL_TABLE}, ${dataDir ? `kept in ${dataDir}` : 'in memory'})`,
    `  Secrets Manager   ${urls.secretsManager}`,
    '',
    `  Development caller key (${scopes}):`,
    `    ${devCallerKey}`,
    '',
    `  ${title}`,
    `    ${command}`,
    '',
    '  Manage callers of this stack (no AWS account needed), in another shell:',
    `    export ${environment}`,
    '    npm run callers -- list',
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  // This process's own choice, read by Powertools when the functions start: no metric documents
  // among the log lines (POWERTOOLS_METRICS_DISABLED=false shows them).
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'refresh-interval': { type: 'string' },
      'json-logs': { type: 'boolean', default: false },
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

  // Whatever the functions and Node say while the stack starts waits for the banner: before it, a
  // person reads only a failure to start. Node's own printing of its warnings is replaced by ours.
  const logs = createFunctionLogs({ format: values['json-logs'] ? 'json' : 'short', held: true });
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logs.warning(warning));

  const stack = await startLocalStack({
    logs,
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
  logs.release();
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
