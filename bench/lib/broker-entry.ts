/**
 * One broker "container" for the benchmarks: the issue-ticket function behind the local API
 * Gateway emulation, optionally with the refresher on a timer, optionally reporting its memory.
 * Both are built by their composition roots, as the handler modules build them, each under its
 * own service name. Bundled by esbuild exactly like the deployable function and run under Node 22.
 *
 * Environment: what the functions read (BROKER_CONFIG_FILE, TABLE_NAME, AWS_ENDPOINT_URL_*), plus
 * BENCH_REFRESH_MS (refresher period) and BENCH_MEMORY_MS (print `MEM <rss> <heapUsed>`).
 * A line `cpu` on stdin prints `CPU <n> <process µs> <handler µs> <invocations>`: the process's
 * CPU time so far (user + system, from `process.cpuUsage`), and the part spent inside handler
 * invocations (the function's own work; the API Gateway emulation's HTTP parsing and writing,
 * which Lambda does not run in the function, falls outside). With one request at a time, as in
 * the Lambda-shaped scenario, nothing else runs during an invocation.
 */
import { startLocalApiGateway } from '../../local/api-gateway';
import { lambdaContext, scheduledEvent } from '../../local/lambda-context';
import { apiFunction } from '../../shared/runtime/api-function';
import {
  ENV,
  readRuntimeEnvironment,
  SERVICE_NAMES,
  type ServiceName,
} from '../../shared/runtime/environment';
import { createRefresherRuntime, refresherFunction } from '../../shared/runtime/refresher-function';
import { createRuntime } from '../../shared/runtime/runtime';

/** A function's environment: this process's, under that function's service name. */
const environmentOf = (service: ServiceName) =>
  readRuntimeEnvironment({ ...process.env, [ENV.serviceName]: service });
const api = apiFunction(createRuntime(environmentOf(SERVICE_NAMES.issueTicket)));

async function main(): Promise<void> {
  let handlerMicros = 0;
  let invocations = 0;
  const measured = async (...args: Parameters<typeof api>) => {
    const before = process.cpuUsage();
    try {
      return await api(...args);
    } finally {
      const used = process.cpuUsage(before);
      handlerMicros += used.user + used.system;
      invocations++;
    }
  };
  const gateway = await startLocalApiGateway({ handler: measured as never });
  const timers: NodeJS.Timeout[] = [];
  const refreshMs = Number(process.env.BENCH_REFRESH_MS ?? 0);
  if (refreshMs > 0) {
    const refresh = refresherFunction(createRefresherRuntime(environmentOf(SERVICE_NAMES.refreshTokens)));
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        await refresh(scheduledEvent(), lambdaContext('refresh-tokens', 20_000));
      } catch {
        // A failed run is what the scenario measures; the next tick tries again.
      } finally {
        running = false;
      }
    };
    await tick();
    timers.push(setInterval(() => void tick(), refreshMs));
  }
  const memoryMs = Number(process.env.BENCH_MEMORY_MS ?? 0);
  if (memoryMs > 0) {
    timers.push(
      setInterval(() => {
        // Retained memory, not garbage awaiting collection: collect first when allowed (--expose-gc).
        (globalThis as { gc?: () => void }).gc?.();
        const { rss, heapUsed } = process.memoryUsage();
        process.stdout.write(`MEM ${Date.now()} ${rss} ${heapUsed}\n`);
      }, memoryMs),
    );
  }
  process.stdout.write(`READY ${gateway.url}\n`);
  let asked = 0;
  process.stdin.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() !== 'cpu') continue;
      const { user, system } = process.cpuUsage();
      asked++;
      process.stdout.write(`CPU ${asked} ${user + system} ${handlerMicros} ${invocations}\n`);
    }
  });
  process.stdin.resume();
  process.stdin.on('end', async () => {
    for (const timer of timers) clearInterval(timer);
    await gateway.stop();
    process.exit(0);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`broker failed: ${String(error)}\n`);
  process.exit(1);
});
