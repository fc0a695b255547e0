/**
 * The refresher benchmark's infrastructure, in its own process: a fleet of connections on a few
 * token hosts (test/support/fleet.ts: one simulator per host, a secret per connection, dynalite),
 * and a control server on 127.0.0.1 that tells what the refresher asked of them. Prints
 * `READY <json>` (the environment a refresher reads, the configuration, the control URL), then
 * runs until its stdin closes.
 *
 *   node --import tsx bench/lib/fleet-infra.ts '<json FleetInfraOptions>'
 *
 * Control routes: `GET /stats` (requests open at once over every host and per host, secret
 * reads, table operations, token and probe requests since the last reset), `POST /reset`,
 * `POST /forget-tokens` (deletes every `token#` item: every token due again).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { keyOf, tableKeys } from '../../shared/adapters/table';
import { FLEET_TABLE, Fleet } from '../../test/support/fleet';

export interface FleetInfraOptions {
  readonly keycloakHosts: readonly number[];
  readonly astratoHosts: readonly number[];
  readonly concurrency: number;
  /** Token endpoints' latency. */
  readonly tokenLatencyMs: number;
  /** The probe's (OMS API) latency. */
  readonly probeLatencyMs: number;
  /** Where to write a second configuration file without `refresh.concurrency`, for an older refresher. */
  readonly legacyConfigFile?: string;
}

export interface FleetInfraReady {
  readonly environment: Record<string, string>;
  readonly connections: number;
  readonly control: string;
}

export interface FleetStats {
  /** The most requests open at once over every host (token endpoints, probes). */
  readonly peakOpenRequests: number;
  /** The most open at once at any one host. */
  readonly peakOpenRequestsPerHost: number;
  readonly secretReads: number;
  readonly tableOperations: Record<string, number>;
  readonly tokenRequests: number;
  readonly probeRequests: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as FleetInfraOptions;
let open = 0;
let peak = 0;
const openByHost = new Map<string, number>();
let peakByHost = 0;
const fleet = await Fleet.start({
  keycloakHosts: options.keycloakHosts,
  astratoHosts: options.astratoHosts,
  refresh: { concurrency: options.concurrency },
  probe: true,
  onInFlight: (host, _endpoint, change) => {
    open += change;
    peak = Math.max(peak, open);
    const atHost = (openByHost.get(host) ?? 0) + change;
    openByHost.set(host, atHost);
    peakByHost = Math.max(peakByHost, atHost);
  },
});
for (const sim of fleet.keycloaks) {
  sim.faults.set('token', { latencyMs: options.tokenLatencyMs });
  sim.faults.set('oms', { latencyMs: options.probeLatencyMs });
}
for (const sim of fleet.astratos) sim.faults.set('token', { latencyMs: options.tokenLatencyMs });
if (options.legacyConfigFile) {
  const { concurrency: _, ...refresh } = fleet.config.refresh;
  writeFileSync(options.legacyConfigFile, JSON.stringify({ ...fleet.config, refresh }));
}

const probes = () => fleet.keycloaks.reduce((sum, sim) => sum + sim.counts().oms, 0);
const reset = () => {
  peak = open;
  peakByHost = Math.max(0, ...openByHost.values());
  fleet.dynamo.resetOperations();
  fleet.secretsManager.resetCounts();
  for (const sim of [...fleet.keycloaks, ...fleet.astratos]) sim.resetCounts();
};
const stats = (): FleetStats => ({
  peakOpenRequests: peak,
  peakOpenRequestsPerHost: peakByHost,
  secretReads: fleet.secretReads(),
  tableOperations: fleet.dynamo.operations(),
  tokenRequests: fleet.tokenRequests(),
  probeRequests: probes(),
});

const control = createServer((req, res) => {
  const answer = (body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  };
  const route = `${req.method} ${req.url}`;
  if (route === 'GET /stats') return answer(stats());
  if (route === 'POST /reset') {
    reset();
    return answer({});
  }
  if (route === 'POST /forget-tokens') {
    const client = fleet.documentClient();
    void Promise.all(
      fleet
        .ids()
        .map((id) =>
          client.send(new DeleteCommand({ TableName: FLEET_TABLE, Key: keyOf(tableKeys.token(id)) })),
        ),
    ).then(
      () => answer({}),
      (error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      },
    );
    return;
  }
  res.writeHead(404);
  res.end();
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
const address = control.address();
const port = typeof address === 'object' && address ? address.port : 0;
const ready: FleetInfraReady = {
  environment: Object.fromEntries(
    Object.entries(fleet.environment()).filter((entry): entry is [string, string] => entry[1] !== undefined),
  ),
  connections: fleet.ids().length,
  control: `http://127.0.0.1:${port}`,
};
process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  control.close();
  await fleet.stop();
  process.exit(0);
});
