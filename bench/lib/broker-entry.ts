/**
 * One broker "container" for the benchmarks: the issue-ticket handler behind the local API
 * Gateway emulation, optionally with the refresher on a timer, optionally reporting its memory.
 * Bundled by esbuild exactly like the deployable function and run under Node 22.
 *
 * Environment: what the handlers read (BROKER_CONFIG_FILE, TABLE_NAME, AWS_ENDPOINT_URL_*), plus
 * BENCH_REFRESH_MS (refresher period) and BENCH_MEMORY_MS (print `MEM <rss> <heapUsed>`).
 * A line `cpu` on stdin prints `CPU <n> <process µs> <handler µs> <invocations>`: the process's
 * CPU time so far (user + system, from `process.cpuUsage`), and the part spent inside handler
 * invocations (the function's own work; the API Gateway emulation's HTTP parsing and writing,
 * which Lambda does not run in the function, falls outside). With one request at a time, as in
 * the Lambda-shaped scenario, nothing else runs during an invocation.
 */
import { handler as api } from '../../functions/issue-ticket/handler';
import { handler as refresh } from '../../functions/refresh-tokens/handler';
import { startLocalApiGateway } from '../../local/api-gateway';
import { lambdaContext, scheduledEvent } from '../../local/lambda-context';

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
