import type { Clock } from './clock';
import { describeError } from './errors';
import type { Log, Telemetry } from './logging/ports';

/**
 * A dependency the guard keeps apart: the broker's table (DynamoDB) or Secrets Manager. The name
 * is also the metric counted each time it goes down (`<Name>Unavailable`).
 */
export type DependencyName = 'Table' | 'SecretsManager';

/** Every dependency a guard keeps apart, for whatever lists them all (the dashboard). */
export const DEPENDENCY_NAMES: readonly DependencyName[] = ['Table', 'SecretsManager'];

/** The metric counted each time the dependency goes down: `<Name>Unavailable`. */
export function unavailableMetric(dependency: DependencyName): `${DependencyName}Unavailable` {
  return `${dependency}Unavailable`;
}

/**
 * Thrown instead of calling a dependency that is backed off: the caller goes on with what it
 * holds (a cached caller record, a token in memory) at once, as it would after a failed call.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
  constructor(readonly dependency: DependencyName) {
    super(`${dependency} is backed off after failing; not called`);
  }
}

/**
 * Logs a failed call of a guarded dependency that its caller gets over (it goes on with what it
 * holds, or without it): WARN, with the error described, except while the dependency is backed off
 * ({@link DependencyUnavailableError}). Then every call fails this way at once, without I/O, and the guard warned
 * once when the dependency went down: such a failure is DEBUG, so an outage is not one WARN per
 * request, per connection or per run.
 */
export function logDependencyFailure(
  log: Log,
  message: string,
  attributes: Record<string, unknown>,
  error: unknown,
): void {
  log[error instanceof DependencyUnavailableError ? 'debug' : 'warn'](message, {
    ...attributes,
    error: describeError(error),
  });
}

/** Throttling answers: the dependency is up but wants fewer calls, which backing off gives it. */
const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

/**
 * Whether a failed call says the dependency is unavailable: no answer (network error, an SDK
 * timeout), a 5xx or throttling. An answer of the service's own (a failed condition, a missing
 * secret, 4xx) means it is up. A call the caller aborted (its deadline passed) says nothing
 * either way: the time left may have been short.
 */
export function isUnavailability(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  if (name === 'AbortError' || name === 'DependencyUnavailableError') return false;
  const status = $metadata?.httpStatusCode;
  if (typeof status === 'number' && status < 500) return typeof name === 'string' && THROTTLING.has(name);
  return true;
}

export interface DependencyGuardOptions {
  readonly dependency: DependencyName;
  readonly clock: Clock;
  readonly log: Log;
  readonly telemetry: Telemetry;
  /** First back-off after a failure; each failed probe doubles it. @default 1000 */
  readonly firstBackoffMs?: number;
  /** Longest back-off: a recovered dependency is noticed at most this late. @default 10000 */
  readonly maxBackoffMs?: number;
}

/**
 * Backs a failing dependency off, so that a hanging DynamoDB or Secrets Manager costs one request
 * at a time instead of every request (docs/design.md "Hanging dependencies"):
 *
 * - **up**: every call goes through;
 * - a call that finds the dependency unavailable ({@link isUnavailability}) turns it **down** for a
 *   back-off period (1 s, doubling per failed probe up to 10 s); meanwhile every call fails at once
 *   with {@link DependencyUnavailableError}, without I/O;
 * - after the back-off, **one** call at a time probes it; the others still fail at once, never
 *   waiting for the probe. A probe that succeeds brings it back up, one that fails doubles the
 *   back-off; a call that was already under way when the dependency went down and fails after it
 *   changes nothing (its failure is the one already counted);
 * - a call its caller aborted (the request's deadline) changes nothing: a probe cut short leaves
 *   the dependency down, and the next call after the back-off probes again.
 *
 * Hand-written rather than taken from a library: cockatiel's half-open state makes every other
 * call wait for the probe, and opossum's fixed reset timeout and rolling-window timers fit neither
 * a one-request-at-a-time Lambda nor an injected clock.
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
 */
export class DependencyGuard {
  private down = false;
  private probing = false;
  private backoffMs = 0;
  private retryAt = 0;
  private readonly firstBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: DependencyGuardOptions) {
    this.firstBackoffMs = options.firstBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  /** `up`, `down` (backed off), or `probing` (one call is finding out). */
  get state(): 'up' | 'down' | 'probing' {
    if (!this.down) return 'up';
    return this.probing ? 'probing' : 'down';
  }

  /**
   * Runs `call` unless the dependency is backed off.
   * @throws DependencyUnavailableError at once while backed off or while another call probes
   */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (!this.down) return this.observe(call, false);
    if (this.probing || this.options.clock.now() < this.retryAt) {
      throw new DependencyUnavailableError(this.options.dependency);
    }
    this.probing = true;
    try {
      return await this.observe(call, true);
    } finally {
      this.probing = false;
    }
  }

  private async observe<T>(call: () => Promise<T>, probe: boolean): Promise<T> {
    try {
      const result = await call();
      this.answered();
      return result;
    } catch (error) {
      // A call its caller aborted says nothing either way: the time left may have been short. The
      // SDK rejects every command whose abortSignal aborts with an AbortError (the HTTP handler,
      // the retry strategy's wait); a timeout of its own is a TimeoutError, which does count.
      if ((error as Error | undefined)?.name === 'AbortError') throw error;
      if (isUnavailability(error)) this.failed(error, probe);
      else this.answered();
      throw error;
    }
  }

  private answered(): void {
    if (!this.down) return;
    this.down = false;
    this.backoffMs = 0;
    this.options.log.info(`${this.options.dependency} answers again`, {
      dependency: this.options.dependency,
    });
  }

  /**
   * A call found the dependency unavailable. Up: it goes down for the first back-off, counted and
   * logged once. A failed probe doubles the back-off. Any other call failing while it is down was
   * under way before it went down (a burst of timeouts): that outage is already counted.
   */
  private failed(error: unknown, probe: boolean): void {
    const { clock, log, telemetry, dependency } = this.options;
    if (this.down && !probe) return;
    this.backoffMs = this.down ? Math.min(this.maxBackoffMs, this.backoffMs * 2) : this.firstBackoffMs;
    if (!this.down) telemetry.count(unavailableMetric(dependency));
    this.down = true;
    this.retryAt = clock.now() + this.backoffMs;
    log.warn(`${dependency} unavailable; backing off`, {
      dependency,
      backoffMs: this.backoffMs,
      error: describeError(error),
    });
  }
}

/** The part of an AWS SDK v3 client's middleware stack the guard uses. */
interface MiddlewareAdder {
  add(
    middleware: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize'; name: string; override?: boolean },
  ): void;
}

/**
 * Puts every command of an SDK client (the document client shares its stack) behind the guard, as
 * an `initialize` middleware: around the SDK's own retries, so one guarded call is one command.
 * @see https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/middleware-stack.html
 */
export function guardClient<C extends { readonly middlewareStack: { add(...args: never[]): unknown } }>(
  client: C,
  guard: DependencyGuard,
): C {
  // The SDK's own typing of `add` is a set of generic overloads; the middleware needs none of them.
  (client.middlewareStack as unknown as MiddlewareAdder).add(
    (next) => (args) => guard.run(() => next(args)),
    {
      step: 'initialize',
      name: 'dependencyGuard',
      override: true,
    },
  );
  return client;
}
