import type { Clock } from '../clock';

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
