/**
 * One refresher "container" for the benchmarks: the refresh-tokens handler, bundled by esbuild
 * exactly like the deployable function and run under Node 22. Each line `run` on stdin invokes it
 * once, as EventBridge would, and prints one line:
 *
 *   RUN {"durationMs","cpuMs","maxRssMiB","heapUsedMiB","emfSeries","logLines","logBytes",
 *        "summary"|"error"}
 *
 * `cpuMs` is the process's CPU time (user + system) during the run; `maxRssMiB` the process's
 * peak resident memory so far (`process.resourceUsage().maxRSS`); `emfSeries` the metric series
 * (name and dimensions) in the run's embedded-metric-format lines; `logLines`/`logBytes` what the
 * run wrote to stdout, which CloudWatch Logs would ingest. Its own log lines are counted, not
 * printed.
 */
import { handler } from '../../functions/refresh-tokens/handler';
import { lambdaContext, scheduledEvent } from '../../local/lambda-context';

const write = process.stdout.write.bind(process.stdout);
let captured: string[] = [];
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
  captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
  const callback = rest.find((value) => typeof value === 'function') as (() => void) | undefined;
  callback?.();
  return true;
}) as typeof process.stdout.write;

/** Distinct `name {dimensions}` in EMF lines. */
function emfSeries(lines: readonly string[]): string[] {
  const series = new Set<string>();
  for (const line of lines) {
    if (!line.includes('"_aws"')) continue;
    let document: Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    };
    try {
      document = JSON.parse(line);
    } catch {
      continue;
    }
    for (const directive of document._aws.CloudWatchMetrics)
      for (const dimensions of directive.Dimensions.length > 0 ? directive.Dimensions : [[]])
        for (const metric of directive.Metrics)
          series.add(
            `${metric.Name} ${JSON.stringify(Object.fromEntries(dimensions.map((name) => [name, document[name]])))}`,
          );
  }
  return [...series].sort();
}

async function runOnce(): Promise<void> {
  captured = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  let outcome: Record<string, unknown>;
  try {
    const summary = (await handler(scheduledEvent(), lambdaContext('refresh-tokens', 50_000))) as unknown as {
      results: unknown[];
    } & Record<string, unknown>;
    const { results: _, ...counts } = summary;
    outcome = { summary: counts };
  } catch (error) {
    outcome = { error: error instanceof Error ? error.message : String(error) };
  }
  const durationMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const text = captured.join('');
  const lines = text.split('\n').filter((line) => line.startsWith('{'));
  write(
    `RUN ${JSON.stringify({
      durationMs,
      cpuMs: (used.user + used.system) / 1000,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
      emfSeries: emfSeries(lines),
      logLines: lines.length,
      logBytes: Buffer.byteLength(text),
      ...outcome,
    })}\n`,
  );
}

let queue = Promise.resolve();
process.stdin.on('data', (chunk: Buffer) => {
  for (const line of chunk.toString('utf8').split('\n'))
    if (line.trim() === 'run') queue = queue.then(runOnce);
});
process.stdin.on('end', () => {
  void queue.then(() => process.exit(0));
});
write('READY refresher\n');
