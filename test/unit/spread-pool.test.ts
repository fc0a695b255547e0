import { runSpread } from '../../shared/spread-pool';

/**
 * The refresher's bounded fan-out, with work whose end each test decides: which items run at
 * once, and in which groups, is observed directly; nothing is timed.
 */
interface Item {
  readonly id: string;
  readonly group: string;
}

/** Work that records what runs and ends only when the test says so. */
function controlledWork() {
  const running = new Map<string, { item: Item; finish: (error?: Error) => void }>();
  let peak = 0;
  const peakByGroup = new Map<string, number>();
  const started: string[] = [];
  const work = (item: Item) =>
    new Promise<string>((resolve, reject) => {
      started.push(item.id);
      running.set(item.id, {
        item,
        finish: (error) => {
          running.delete(item.id);
          if (error) reject(error);
          else resolve(`done ${item.id}`);
        },
      });
      peak = Math.max(peak, running.size);
      const inGroup = [...running.values()].filter((each) => each.item.group === item.group).length;
      peakByGroup.set(item.group, Math.max(peakByGroup.get(item.group) ?? 0, inGroup));
    });
  /** Lets the pool react to what settled (its bookkeeping runs in promise callbacks). */
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    work,
    started,
    running: () => [...running.keys()],
    peak: () => peak,
    peakByGroup: () => Object.fromEntries(peakByGroup),
    async finish(id: string, error?: Error) {
      const entry = running.get(id);
      if (!entry) throw new Error(`${id} is not running`);
      entry.finish(error);
      await settle();
    },
    /** Finishes whatever runs, oldest first, until nothing does (except `keep`). */
    async drain(keep: readonly string[] = []) {
      for (;;) {
        const next = [...running.keys()].find((id) => !keep.includes(id));
        if (next === undefined) return;
        await this.finish(next);
      }
    },
    settle,
  };
}

const items = (group: string, count: number): Item[] =>
  Array.from({ length: count }, (_, i) => ({ id: `${group}${i}`, group }));

/** The items of several groups, each group's items together (the worst order for spreading). */
const grouped = (...groups: [string, number][]) => groups.flatMap(([group, count]) => items(group, count));

describe('runSpread', () => {
  it('never runs more than the concurrency, and runs every item once, results in the items order', async () => {
    const control = controlledWork();
    const all = grouped(['a', 7], ['b', 5], ['c', 1]);
    const done = runSpread(all, control.work, { concurrency: 4, groupOf: (item) => item.group });
    await control.settle();
    expect(control.running()).toHaveLength(4);
    await control.drain();
    const outcome = await done;
    expect(control.peak()).toBe(4);
    expect(control.started.sort()).toEqual(all.map((item) => item.id).sort());
    expect(outcome.results.map((result) => result.value)).toEqual(all.map((item) => `done ${item.id}`));
    expect(outcome.notStarted).toEqual([]);
  });

  it('spreads groups: while two groups have work, neither holds more than half the slots', async () => {
    const control = controlledWork();
    // Every "a" item first: a FIFO limiter would start eight of them at once.
    const done = runSpread(grouped(['a', 30], ['b', 30]), control.work, {
      concurrency: 8,
      groupOf: (item) => item.group,
    });
    await control.settle();
    expect(control.running().filter((id) => id.startsWith('a'))).toHaveLength(4);
    // "b" items finish fast, "a" items slowly: the slots "b" gives back do not go to "a".
    for (let round = 0; round < 20; round++) {
      const b = control.running().find((id) => id.startsWith('b'));
      if (b) await control.finish(b);
    }
    expect(control.running().filter((id) => id.startsWith('a'))).toHaveLength(4);
    // Then in a mixed order: while both groups have items left, neither runs more than four.
    const runningIn = (group: string) => control.running().filter((id) => id.startsWith(group)).length;
    const startedIn = (group: string) => control.started.filter((id) => id.startsWith(group)).length;
    const left = (group: string) => 30 - startedIn(group) + runningIn(group);
    let checks = 0;
    for (let turn = 0; control.running().length > 0; turn++) {
      const running = control.running();
      const next = (turn % 3 === 0 ? running[0] : running.at(-1)) as string;
      await control.finish(next);
      if (left('a') > 0 && left('b') > 0) {
        checks++;
        expect(Math.max(runningIn('a'), runningIn('b'))).toBeLessThanOrEqual(4);
      }
    }
    expect(checks).toBeGreaterThan(15);
    await done;
  });

  it('a group alone uses every slot (the limit is a fair share, not a fixed cap)', async () => {
    const control = controlledWork();
    const done = runSpread(grouped(['a', 2], ['b', 20]), control.work, {
      concurrency: 6,
      groupOf: (item) => item.group,
    });
    await control.settle();
    // Each group at most its share (3 of 6), even if a slot stays free meanwhile.
    expect(control.running().sort()).toEqual(['a0', 'a1', 'b0', 'b1', 'b2']);
    await control.finish('a0');
    await control.finish('a1');
    // "a" has nothing left: "b" takes every slot.
    expect(control.running().filter((id) => id.startsWith('b'))).toHaveLength(6);
    await control.drain();
    await done;
    expect(control.peakByGroup().b).toBe(6);
  });

  it('an item that never ends keeps one slot; the others all complete meanwhile', async () => {
    const control = controlledWork();
    const all = [{ id: 'hang', group: 'h' }, ...items('x', 12)];
    const done = runSpread(all, control.work, { concurrency: 2, groupOf: (item) => item.group });
    await control.settle();
    await control.drain(['hang']);
    // Every other item ran and finished while "hang" is still running.
    expect(control.started).toHaveLength(13);
    expect(control.running()).toEqual(['hang']);
    let settled = false;
    void done.then(() => {
      settled = true;
    });
    await control.settle();
    expect(settled).toBe(false);
    await control.finish('hang');
    expect((await done).results).toHaveLength(13);
  });

  it('once the signal aborts, nothing more starts; started work ends on its own; the rest is reported', async () => {
    const control = controlledWork();
    const abort = new AbortController();
    const all = items('a', 10);
    const done = runSpread(all, control.work, {
      concurrency: 3,
      groupOf: (item) => item.group,
      signal: abort.signal,
    });
    await control.settle();
    await control.finish('a0');
    abort.abort();
    await control.finish('a1');
    expect(control.running()).toEqual(['a2', 'a3']);
    await control.drain();
    const outcome = await done;
    expect(outcome.results.map((result) => result.item.id)).toEqual(['a0', 'a1', 'a2', 'a3']);
    expect(outcome.notStarted.map((item) => item.id)).toEqual(['a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
  });

  it('an already aborted signal starts nothing', async () => {
    const control = controlledWork();
    const outcome = await runSpread(items('a', 3), control.work, {
      concurrency: 3,
      groupOf: (item) => item.group,
      signal: AbortSignal.abort(),
    });
    expect(control.started).toEqual([]);
    expect(outcome.notStarted).toHaveLength(3);
  });

  it('a piece of work that throws rejects the whole, after the started ones settle, starting no more', async () => {
    const control = controlledWork();
    const done = runSpread(items('a', 6), control.work, { concurrency: 2, groupOf: (item) => item.group });
    const failed = expect(done).rejects.toThrow('boom');
    await control.settle();
    await control.finish('a0', new Error('boom'));
    expect(control.running()).toEqual(['a1']);
    await control.finish('a1');
    await failed;
    expect(control.started).toEqual(['a0', 'a1']);
  });

  it('no items: resolves at once', async () => {
    await expect(runSpread([], async () => 1, { concurrency: 1, groupOf: () => 'a' })).resolves.toEqual({
      results: [],
      notStarted: [],
    });
  });

  it('refuses a concurrency that is not a positive integer', () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN])
      expect(() => runSpread([1], async () => 1, { concurrency, groupOf: () => 'a' })).toThrow(RangeError);
  });
});
