/**
 * `npm run bench:load`: 20,000 ticket requests at concurrency 64 through the local API, with the
 * refresher running and a token lifetime shorter than the run. Reports errors (goal 0),
 * token-endpoint calls, and the broker process's memory over the run (goal: no growth trend).
 *
 *   npm run bench:load [-- --requests 20000 --concurrency 64 --token-lifetime 20]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runLoad } from './lib/load';
import { startBroker, startInfra } from './lib/processes';
import { slope, summarize } from './lib/stats';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '64' },
    'token-lifetime': { type: 'string', default: '8' },
    'setup-latency': { type: 'string', default: '50' },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const LIFETIME = Number(values['token-lifetime']);

async function main(): Promise<void> {
  const infra = await startInfra({ tokenLifetimeSeconds: LIFETIME });
  const memory: { at: number; rss: number; heapUsed: number }[] = [];
  try {
    await infra.fault('astrato', 'token', { latencyMs: 150 });
    await infra.fault('astrato', 'setup', { latencyMs: Number(values['setup-latency']) });
    await infra.fault('keycloak', 'token', { latencyMs: 150 });
    const broker = await startBroker(infra, { BENCH_REFRESH_MS: '1000', BENCH_MEMORY_MS: '1000' }, [
      '--expose-gc',
    ]);
    broker.child.process.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        const match = /^MEM (\d+) (\d+) (\d+)$/.exec(line);
        if (match) memory.push({ at: Number(match[1]), rss: Number(match[2]), heapUsed: Number(match[3]) });
      }
    });
    try {
      await infra.resetCounts('astrato');
      await infra.resetCounts('keycloak');
      process.stdout.write(
        `load: ${REQUESTS} tickets at concurrency ${CONCURRENCY}, ${LIFETIME} s tokens...\n`,
      );
      const { samples, wallMs } = await runLoad({
        url: broker.url,
        path: '/v1/tickets',
        headers: { authorization: `Bearer ${infra.endpoints.callerKey}` },
        body: (i) => JSON.stringify({ email: `load${i % 1000}@example.com`, groupIds: ['sales'] }),
        concurrency: CONCURRENCY,
        total: REQUESTS,
      });
      const errors = samples.filter((sample) => sample.status !== 201);
      const astrato = await infra.counts('astrato');
      const keycloak = await infra.counts('keycloak');
      const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
      const secondHalf = memory.slice(Math.floor(memory.length / 2));
      const t0 = secondHalf[0]?.at ?? 0;
      const heapSlope = slope(secondHalf.map((m) => [(m.at - t0) / 1000, m.heapUsed / 2 ** 20] as const));
      const rssSlope = slope(secondHalf.map((m) => [(m.at - t0) / 1000, m.rss / 2 ** 20] as const));
      const result = {
        at: new Date().toISOString(),
        requests: samples.length,
        concurrency: CONCURRENCY,
        tokenLifetimeSeconds: LIFETIME,
        tokenLifetimesInRun: Math.round((wallMs / 1000 / LIFETIME) * 10) / 10,
        durationSeconds: Math.round(wallMs / 100) / 10,
        throughputPerSecond: Math.round((samples.length / wallMs) * 1000),
        errors: errors.length,
        errorStatuses: errors.reduce<Record<string, number>>((acc, e) => {
          acc[e.status] = (acc[e.status] ?? 0) + 1;
          return acc;
        }, {}),
        latencyMs: summarize(samples.map((s) => s.ms)),
        tokenEndpointCalls: { astrato: astrato.token, oms: keycloak.token },
        memoryMiB: {
          start: { rss: mib(memory[0]?.rss ?? 0), heapUsed: mib(memory[0]?.heapUsed ?? 0) },
          end: { rss: mib(memory.at(-1)?.rss ?? 0), heapUsed: mib(memory.at(-1)?.heapUsed ?? 0) },
          secondHalfSlopeMiBPerMinute: {
            heapUsed: Math.round(heapSlope * 60 * 100) / 100,
            rss: Math.round(rssSlope * 60 * 100) / 100,
          },
          samples: memory.length,
          note: 'sampled every second after a forced GC (retained memory)',
        },
      };
      mkdirSync('bench/results', { recursive: true });
      writeFileSync('bench/results/load.json', `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`${errors.length === 0 ? 'MET ' : 'MISS'}  0 errors: ${errors.length}\n`);
    } finally {
      await broker.stop();
    }
  } finally {
    await infra.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:load failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
