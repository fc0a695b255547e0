/**
 * Runs one piece of work per item with at most `concurrency` running at once, sharing the slots
 * fairly between groups of items (the refresher groups connections by their token endpoint's host,
 * so fifty connections on one Keycloak never take every slot while another host waits).
 *
 * Why not a FIFO limiter such as `p-limit`: which item starts next depends on what is running, not
 * on the order items were queued. When a slot frees, the next item comes from the group with the
 * fewest pieces of work running, and no group holds more than its share of the slots,
 * `ceil(concurrency / groups that still have work)`. A slow host therefore cannot gather the
 * slots that its faster neighbours give back, which a FIFO queue, however interleaved, lets it do.
 */
export interface SpreadOptions<T> {
  /** At most this many pieces of work run at once: an integer of at least 1. */
  readonly concurrency: number;
  /** The group of an item (e.g. a host): groups share the slots fairly. */
  readonly groupOf: (item: T) => string;
  /**
   * Once aborted, no further item starts; work already started runs to its own end (each piece of
   * work keeps its own deadline). Items never started are reported in `notStarted`.
   */
  readonly signal?: AbortSignal;
}

/** How a {@link runSpread} ended. */
export interface SpreadOutcome<T, R> {
  /** Each started item with its result, in the items' order. */
  readonly results: readonly { readonly item: T; readonly value: R }[];
  /** The items that never started because the signal aborted first, in the items' order. */
  readonly notStarted: readonly T[];
}

interface Group {
  /** Indexes of the items not started yet, in order. */
  readonly pending: number[];
  running: number;
}

/**
 * Runs `work(item)` for every item, at most `options.concurrency` at once, spreading groups.
 * Resolves once every started piece of work has settled.
 *
 * @throws RangeError when `concurrency` is not an integer of at least 1
 * @returns each started item's result and the items the signal kept from starting; rejects with
 *   the first error a piece of work threw (after every started piece has settled, with no new one
 *   started once it threw): work that must not stop the others handles its own errors
 * @example
 * const { results, notStarted } = await runSpread(connections, refreshOne, {
 *   concurrency: 8,
 *   groupOf: (connection) => new URL(connection.tokenUrl).host,
 *   signal: deadline.signal,
 * });
 */
export function runSpread<T, R>(
  items: readonly T[],
  work: (item: T) => Promise<R>,
  options: SpreadOptions<T>,
): Promise<SpreadOutcome<T, R>> {
  const { concurrency, signal } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be an integer of at least 1, not ${concurrency}`);
  const groups = new Map<string, Group>();
  items.forEach((item, index) => {
    const key = options.groupOf(item);
    let group = groups.get(key);
    if (!group) {
      group = { pending: [], running: 0 };
      groups.set(key, group);
    }
    group.pending.push(index);
  });
  const values = new Map<number, R>();
  let running = 0;
  let failure: { readonly error: unknown } | undefined;

  /** The group whose next item starts now, or none when every group with items is at its share. */
  const pick = (): Group | undefined => {
    let withWork = 0;
    for (const group of groups.values()) if (group.pending.length > 0 || group.running > 0) withWork++;
    const share = Math.ceil(concurrency / Math.max(1, withWork));
    let best: Group | undefined;
    for (const group of groups.values()) {
      const next = group.pending[0];
      if (next === undefined || group.running >= share) continue;
      // Fewest running first; then the group with most left, so groups drain together and
      // none is left alone at the end with every slot; then the items' order.
      if (
        best === undefined ||
        group.running < best.running ||
        (group.running === best.running &&
          (group.pending.length > best.pending.length ||
            (group.pending.length === best.pending.length && next < (best.pending[0] ?? next))))
      )
        best = group;
    }
    return best;
  };

  return new Promise((resolve, reject) => {
    const settleIfIdle = () => {
      if (running > 0) return;
      if (failure) {
        reject(failure.error);
        return;
      }
      const results: { item: T; value: R }[] = [];
      const notStarted: T[] = [];
      items.forEach((item, index) => {
        if (values.has(index)) results.push({ item, value: values.get(index) as R });
        else notStarted.push(item);
      });
      resolve({ results, notStarted });
    };
    const pump = () => {
      while (running < concurrency && failure === undefined && !signal?.aborted) {
        const group = pick();
        const index = group?.pending.shift();
        if (group === undefined || index === undefined) break;
        group.running++;
        running++;
        // A synchronous throw inside `work` becomes a rejection like any other.
        Promise.resolve()
          .then(() => work(items[index] as T))
          .then(
            (value) => {
              values.set(index, value);
            },
            (error: unknown) => {
              failure ??= { error };
            },
          )
          .finally(() => {
            group.running--;
            running--;
            pump();
          });
      }
      settleIfIdle();
    };
    pump();
  });
}
