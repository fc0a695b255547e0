/**
 * `npm run bench:dynamodb-hang`: ticket latency while DynamoDB accepts connections and never
 * answers, against the same run with it healthy (issue 19).
 *
 *   npm run bench:dynamodb-hang [-- --healthy 30 --hanging 60 --environments 2 --setup-latency 50]
 *
 * The brokers (the deployable bundle behind the API Gateway emulation, Node 22, one request at a
 * time each, as Lambda runs them) reach DynamoDB through a switchable TCP proxy in this process:
 * first it forwards to dynalite, then it becomes a black hole (accepts, reads, never answers,
 * existing connections included). Every request is timed from the client; the report gives p50 and
 * p99 of each phase, the failures, and how many requests reached the table while it hung.
 * Writes bench/results/dynamodb-hang.json.
 */
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { runLoad, type Sample } from './lib/load';
import { type Broker, type Infra, startBroker, startInfra } from './lib/processes';
import { summarize } from './lib/stats';

const { values: args } = parseArgs({
  options: {
    healthy: { type: 'string', default: '30' },
    hanging: { type: 'string', default: '60' },
    environments: { type: 'string', default: '2' },
    'setup-latency': { type: 'string', default: '50' },
  },
});
const HEALTHY_MS = Number(args.healthy) * 1000;
const HANGING_MS = Number(args.hanging) * 1000;
const ENVIRONMENTS = Number(args.environments);
const SETUP_LATENCY = Number(args['setup-latency']);
const log = (line: string) => process.stdout.write(`${line}\n`);

/** A TCP proxy to DynamoDB that can turn into a black hole, for every connection at once. */
async function switchableProxy(target: URL) {
  let hanging = false;
  let requestsWhileHanging = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (!hanging) {
        upstream.write(chunk);
        return;
      }
      requestsWhileHanging += chunk.toString('latin1').match(/^POST \S+ HTTP\/1\.1\r\n/gm)?.length ?? 0;
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!hanging) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    hang: () => {
      hanging = true;
    },
    requestsWhileHanging: () => requestsWhileHanging,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const body = (i: number) => JSON.stringify({ email: `user${i % 500}@example.com`, groupIds: ['sales'] });

async function phase(brokers: Broker[], key: string, durationMs: number): Promise<Sample[]> {
  const runs = await Promise.all(
    brokers.map((broker) =>
      runLoad({
        url: broker.url,
        path: '/v1/tickets',
        headers: { authorization: `Bearer ${key}` },
        body,
        concurrency: 1,
        durationMs,
      }),
    ),
  );
  return runs.flatMap((run) => run.samples);
}

function report(samples: Sample[]) {
  const ok = samples.filter((sample) => sample.status === 201);
  const statuses: Record<string, number> = {};
  for (const sample of samples) statuses[sample.status] = (statuses[sample.status] ?? 0) + 1;
  return { requests: samples.length, statuses, latencyMs: summarize(ok.map((sample) => sample.ms)) };
}

async function main(): Promise<void> {
  const infra: Infra = await startInfra();
  const proxy = await switchableProxy(new URL(infra.endpoints.dynamodb));
  const brokers: Broker[] = [];
  try {
    await infra.fault('astrato', 'setup', { latencyMs: SETUP_LATENCY });
    for (let i = 0; i < ENVIRONMENTS; i++)
      brokers.push(await startBroker(infra, { AWS_ENDPOINT_URL_DYNAMODB: proxy.url }));
    const { callerKey } = infra.endpoints;
    await phase(brokers, callerKey, 3_000); // warm: caller records read, tokens acquired
    log(
      `healthy: ${HEALTHY_MS / 1000} s of tickets, ${ENVIRONMENTS} environments, one request at a time each...`,
    );
    const healthy = await phase(brokers, callerKey, HEALTHY_MS);
    proxy.hang();
    log(`hanging: DynamoDB accepts and never answers; ${HANGING_MS / 1000} s of tickets...`);
    const hanging = await phase(brokers, callerKey, HANGING_MS);
    const result = {
      at: new Date().toISOString(),
      command: [
        'npm run bench:dynamodb-hang',
        ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
      ].join(' '),
      environments: ENVIRONMENTS,
      setupLatencyMs: SETUP_LATENCY,
      healthy: { seconds: HEALTHY_MS / 1000, ...report(healthy) },
      hanging: {
        seconds: HANGING_MS / 1000,
        ...report(hanging),
        tableRequestsWhileHanging: proxy.requestsWhileHanging(),
        slowerThan500Ms: hanging.filter((sample) => sample.ms > 500).length,
      },
    };
    writeFileSync('bench/results/dynamodb-hang.json', `${JSON.stringify(result, null, 2)}\n`);
    log(JSON.stringify(result, null, 2));
    log('wrote bench/results/dynamodb-hang.json');
  } finally {
    await Promise.allSettled(brokers.map((broker) => broker.stop()));
    await proxy.stop();
    await infra.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
