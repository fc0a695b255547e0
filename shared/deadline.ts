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
 * Where the invocation that runs some work ends for what must still happen after the work's own
 * deadline: Lambda's remaining time less what answering needs (where middy's early timeout fires),
 * with the signal that aborts there (middy's timeout signal).
 */
export interface InvocationLimit {
  /** Epoch ms. */
  readonly at: number;
  readonly signal?: AbortSignal;
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
   * The invocation's own end, a little past `at`: what bookkeeping after the work may use
   * ({@link startAfterwards}). Absent: only the afterwards deadline's own length bounds it.
   */
  readonly limit?: InvocationLimit;
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
 * running (unlike `AbortSignal.timeout`, whose timer outlives it). `limit` is the invocation's end,
 * which deadlines started inside this one pass on.
 */
export function startDeadline(
  at: number,
  clock: Clock,
  parent?: AbortSignal,
  limit?: InvocationLimit,
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
    ...(limit ? { limit } : {}),
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', follow);
    },
  };
}

/** Longest the bookkeeping after a piece of work may take, whatever time the work had left. */
export const AFTERWARDS_MS = 1_000;

/**
 * A deadline of its own for what must still happen after a piece of work, however the work ended,
 * its deadline passed included (its signal has aborted then): a lease given back, the audit
 * record of a failed ticket, a token acquired at the last moment written to the table. It ends
 * {@link AFTERWARDS_MS} from now, never past the invocation's end (`limit`, the work's
 * {@link Deadline.limit}), and aborts when the invocation is cut short, never with the work's own
 * signal.
 */
export function startAfterwards(limit: InvocationLimit | undefined, clock: Clock): OwnedDeadline {
  return startDeadline(
    Math.min(clock.now() + AFTERWARDS_MS, limit?.at ?? Number.POSITIVE_INFINITY),
    clock,
    limit?.signal,
  );
}

/** Runs `task` within {@link startAfterwards}'s deadline, then clears its timer. */
export async function afterwards<T>(
  limit: InvocationLimit | undefined,
  clock: Clock,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const own = startAfterwards(limit, clock);
  try {
    return await task(own.signal);
  } finally {
    own.dispose();
  }
}
