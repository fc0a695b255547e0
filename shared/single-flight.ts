/**
 * One piece of work in flight per key: callers asking for a key that is already being worked on
 * share that work's promise instead of repeating it. The entry is dropped as soon as the work
 * settles, so a failure is never remembered.
 *
 * Used for token acquisitions (one per connection per process), caller-record reads (one per key
 * id) and secret reads (one per secret).
 */
export class SingleFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  /** Whether work for `key` is running now. */
  has(key: string): boolean {
    return this.pending.has(key);
  }

  /** Resolves with `work()`'s result, or with the result of the work already running for `key`. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.pending.get(key);
    if (running) return running;
    const started = work().finally(() => this.pending.delete(key));
    this.pending.set(key, started);
    return started;
  }
}
