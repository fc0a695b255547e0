import type { Clock } from './clock';

/** The part of Lambda's context that tells how long the invocation has left. */
export interface RemainingTime {
  getRemainingTimeInMillis?: () => number;
}

export interface DeadlineOptions {
  /** Kept back from the invocation's end, to answer and flush logs before Lambda stops it. */
  readonly marginMs: number;
  /** Longest the work may take, however long the invocation has left. @default Infinity */
  readonly budgetMs?: number;
  /** The deadline is never closer than this. @default 0 */
  readonly minimumMs?: number;
  /** What to assume the invocation has left when the context cannot say. @default Infinity */
  readonly fallbackRemainingMs?: number;
}

/**
 * The epoch-ms deadline of one invocation's work: the invocation's remaining time (the clock
 * middy's early timeout also runs on) less a margin, capped by a budget. Every handler takes its
 * deadline from here.
 */
export function invocationDeadline(
  context: RemainingTime | undefined,
  clock: Clock,
  options: DeadlineOptions,
): number {
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function'
      ? context.getRemainingTimeInMillis()
      : (options.fallbackRemainingMs ?? Number.POSITIVE_INFINITY);
  const available = Math.min(options.budgetMs ?? Number.POSITIVE_INFINITY, remaining - options.marginMs);
  return clock.now() + Math.max(options.minimumMs ?? 0, available);
}

/**
 * The end of one piece of work (a request, a refresher run): when it is, and the signal that
 * aborts there. Every AWS SDK call below the handler gets the signal (`send(command, {
 * abortSignal })`), so no call outlives the work it serves, whatever the client's own timeouts.
 */
export interface Deadline {
  /** Epoch ms by which the work must end. */
  readonly at: number;
  /** Aborts at `at`, or earlier when the invocation is cut short (middy's timeout signal). */
  readonly signal: AbortSignal;
  /**
   * Aborts where the invocation itself ends, a little past `at`: on Lambda middy's timeout signal,
   * which fires as middy's early timeout answers for us. What must still happen after the work
   * ({@link afterwards}) may run until then. Absent: nothing bounds it but its own length.
   */
  readonly invocation?: AbortSignal | undefined;
}

/** A {@link Deadline} this code started: `dispose()` clears its timer once the work is over. */
export interface OwnedDeadline extends Deadline {
  dispose(): void;
}

/** Why a deadline's signal aborted: the work ran out of time. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

/**
 * Starts a deadline at `at` (epoch ms, on `clock`). Its signal follows `parent` too, e.g. middy's
 * timeout signal. One timer, cleared by `dispose()`: a call that ends in time leaves nothing
 * running (unlike `AbortSignal.timeout`, whose timer outlives it). `invocation` is where the
 * invocation ends ({@link Deadline.invocation}), which deadlines started inside this one pass on.
 */
export function startDeadline(
  at: number,
  clock: Clock,
  parent?: AbortSignal,
  invocation?: AbortSignal,
): OwnedDeadline {
  const controller = new AbortController();
  const expire = () =>
    controller.abort(new DeadlineExceededError(`deadline of ${new Date(at).toISOString()} passed`));
  const timer = setTimeout(expire, Math.max(0, at - clock.now()));
  timer.unref();
  const follow = () => controller.abort(parent?.reason);
  if (parent?.aborted) follow();
  else parent?.addEventListener('abort', follow, { once: true });
  return {
    at,
    signal: controller.signal,
    invocation,
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', follow);
    },
  };
}

/** Longest what follows a piece of work may take, whatever time the work had left. */
export const AFTERWARDS_MS = 1_000;

/**
 * Runs `task` on a deadline of its own, for what must still happen after a piece of work however
 * the work ended, its deadline passed included (its signal has aborted then): a lease given back,
 * the audit record of a failed ticket, a token acquired at the last moment written to the table.
 * The deadline is {@link AFTERWARDS_MS} from now and aborts with the invocation (`invocation`, the
 * work's {@link Deadline.invocation}), never with the work's own signal.
 */
export async function afterwards<T>(
  invocation: AbortSignal | undefined,
  clock: Clock,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const own = startDeadline(clock.now() + AFTERWARDS_MS, clock, invocation);
  try {
    return await task(own.signal);
  } finally {
    own.dispose();
  }
}
