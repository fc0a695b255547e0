/**
 * Captures everything written to stdout/stderr (where Powertools' Logger and Metrics write) while
 * still letting a test inspect it. Jest's own console is not involved.
 */
export class OutputCapture {
  private chunks: string[] = [];
  private restore: (() => void) | undefined;

  start(): this {
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const capture =
      (original: typeof process.stdout.write) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        this.chunks.push(
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
        );
        // Keep the run quiet: swallow, but honour write callbacks.
        const callback = rest.find((value) => typeof value === 'function') as (() => void) | undefined;
        callback?.();
        void original;
        return true;
      };
    process.stdout.write = capture(out) as typeof process.stdout.write;
    process.stderr.write = capture(err) as typeof process.stderr.write;
    this.restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
    return this;
  }

  stop(): string {
    this.restore?.();
    this.restore = undefined;
    return this.text();
  }

  text(): string {
    return this.chunks.join('');
  }

  /** Parsed JSON log lines (non-JSON lines are skipped). */
  lines(): Record<string, unknown>[] {
    return this.text()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  }
}
