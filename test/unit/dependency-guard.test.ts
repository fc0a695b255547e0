import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LastUseRecorder } from '../../shared/callers/last-use';
import {
  DependencyGuard,
  DependencyUnavailableError,
  guardClient,
  isUnavailability,
  logDependencyFailure,
} from '../../shared/dependency-guard';
import type { Log } from '../../shared/logging/ports';
import { startBlackHole } from '../support/black-hole';
import { ManualClock, noDeadline } from '../support/fakes';

/** A call that stays pending until the test settles it: a dependency that hangs, held by hand. */
function pending() {
  let settle: { resolve: (value: string) => void; reject: (error: unknown) => void } | undefined;
  const promise = new Promise<string>((resolve, reject) => {
    settle = { resolve, reject };
  });
  return { promise, resolve: (v: string) => settle?.resolve(v), reject: (e: unknown) => settle?.reject(e) };
}

const timeout = () => Object.assign(new Error('request timed out'), { name: 'TimeoutError' });

const aborted = () => Object.assign(new Error('Request aborted'), { name: 'AbortError' });

function setup() {
  const clock = new ManualClock();
  const counted: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const log: Log = {
    debug() {},
    info() {},
    warn: (message, ...attributes) => warnings.push(Object.assign({ message }, ...attributes)),
    error() {},
  };
  const guard = new DependencyGuard({
    dependency: 'Table',
    clock,
    log,
    telemetry: { count: (metric) => counted.push(metric), timing() {} },
  });
  let calls = 0;
  const call = (work: () => Promise<string>) =>
    guard.run(() => {
      calls++;
      return work();
    });
  return { clock, guard, counted, warnings, call, calls: () => calls };
}

/** The back-off now in force, found the way a caller finds it: skipped calls until one goes through. */
async function backoffNow(clock: ManualClock, call: ReturnType<typeof setup>['call']): Promise<number> {
  let waited = 0;
  while (
    await call(() => Promise.reject(timeout())).catch(
      (error: unknown) => error instanceof DependencyUnavailableError,
    )
  ) {
    clock.advance(100);
    waited += 100;
  }
  return waited;
}

describe('DependencyGuard', () => {
  it('up: every call goes through, a service answer (even a failed condition) keeps it up', async () => {
    const { guard, call, calls } = setup();
    await expect(call(async () => 'ok')).resolves.toBe('ok');
    const conditional = Object.assign(new Error('condition'), {
      name: 'ConditionalCheckFailedException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(call(() => Promise.reject(conditional))).rejects.toBe(conditional);
    expect(guard.state).toBe('up');
    expect(calls()).toBe(2);
  });

  it('after a failure: down, calls fail at once without I/O until the back-off passes', async () => {
    const { clock, guard, call, calls, counted } = setup();
    await expect(call(() => Promise.reject(timeout()))).rejects.toThrow('request timed out');
    expect(guard.state).toBe('down');
    expect(counted).toEqual(['TableUnavailable']);
    for (let i = 0; i < 10; i++)
      await expect(call(async () => 'x')).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(calls()).toBe(1);
    clock.advance(1000);
    await expect(call(async () => 'back')).resolves.toBe('back');
    expect(guard.state).toBe('up');
  });

  it('one probe at a time: while it hangs, every other call fails at once instead of waiting', async () => {
    const { clock, guard, call, calls } = setup();
    await call(() => Promise.reject(timeout())).catch(() => undefined);
    clock.advance(1000);
    const hanging = pending();
    const probe = call(() => hanging.promise);
    expect(guard.state).toBe('probing');
    const others = await Promise.allSettled(Array.from({ length: 5 }, () => call(async () => 'x')));
    // They settled while the probe is still pending, without calling the dependency.
    expect(
      others.map((o) => o.status === 'rejected' && o.reason instanceof DependencyUnavailableError),
    ).toEqual(Array(5).fill(true));
    expect(calls()).toBe(2);
    hanging.reject(timeout());
    await expect(probe).rejects.toThrow('request timed out');
    expect(guard.state).toBe('down');
  });

  it('each failed probe doubles the back-off, up to 10 s; a success resets it', async () => {
    const { clock, call } = setup();
    await call(() => Promise.reject(timeout())).catch(() => undefined);
    const backoffs: number[] = [];
    // Skipped calls until the back-off has passed; then the probe, which fails again.
    for (let i = 0; i < 6; i++) backoffs.push(await backoffNow(clock, call));
    expect(backoffs).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
    clock.advance(10_000);
    await call(async () => 'ok');
    await call(() => Promise.reject(timeout())).catch(() => undefined);
    clock.advance(999);
    await expect(call(async () => 'x')).rejects.toBeInstanceOf(DependencyUnavailableError);
    clock.advance(1);
    await expect(call(async () => 'x')).resolves.toBe('x');
  });

  it('a probe its caller aborted leaves the dependency down, and the next call after it probes again', async () => {
    const { clock, guard, call, calls, counted } = setup();
    await call(() => Promise.reject(timeout())).catch(() => undefined);
    clock.advance(1000);
    // The SDK's AbortError, as the request's deadline cuts the probe short.
    await expect(call(() => Promise.reject(aborted()))).rejects.toThrow('Request aborted');
    expect(guard.state).toBe('down');
    // Nothing was doubled or counted: the back-off that passed still lets the next call probe.
    await expect(call(async () => 'back')).resolves.toBe('back');
    expect(guard.state).toBe('up');
    expect(counted).toEqual(['TableUnavailable']);
    expect(calls()).toBe(3);
  });

  it('an aborted call while up changes nothing either', async () => {
    const { guard, call, counted } = setup();
    await expect(call(() => Promise.reject(aborted()))).rejects.toThrow('Request aborted');
    expect(guard.state).toBe('up');
    expect(counted).toEqual([]);
  });

  it('a burst of calls under way when it went down: one outage, one warning, the first back-off', async () => {
    const { clock, guard, call, counted, warnings } = setup();
    const inFlight = Array.from({ length: 5 }, () => pending());
    const calls = inFlight.map((p) => call(() => p.promise).catch(() => undefined));
    for (const p of inFlight) p.reject(timeout());
    await Promise.all(calls);
    expect(guard.state).toBe('down');
    expect(counted).toEqual(['TableUnavailable']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      message: 'Table unavailable; backing off',
      backoffMs: 1000,
      error: { name: 'TimeoutError', message: 'request timed out' },
    });
    // Then a failed probe doubles it, once.
    expect(await backoffNow(clock, call)).toBe(1000);
    expect(await backoffNow(clock, call)).toBe(2000);
    expect(warnings.map((w) => w.backoffMs)).toEqual([1000, 2000, 4000]);
  });

  it('through the SDK: a probe whose request is aborted mid-flight (a black hole) leaves it down', async () => {
    const hole = await startBlackHole();
    const client = new DynamoDBClient({
      endpoint: hole.url,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 1,
    });
    try {
      const { clock, guard, call, warnings } = setup();
      guardClient(client, guard);
      await call(() => Promise.reject(timeout())).catch(() => undefined);
      clock.advance(1000);
      const controller = new AbortController();
      const probe = client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'k' } } }), {
        abortSignal: controller.signal,
      });
      const settled = probe.then(
        () => undefined,
        (error: unknown) => error,
      );
      await hole.waitForRequests(1);
      expect(guard.state).toBe('probing');
      controller.abort(new Error("the request's deadline passed"));
      await expect(settled).resolves.toMatchObject({ name: 'AbortError' });
      expect(guard.state).toBe('down');
      // Neither a probe that failed (no second warning, no doubled back-off) nor an answer.
      expect(warnings).toHaveLength(1);
      await expect(call(async () => 'back')).resolves.toBe('back');
    } finally {
      client.destroy();
      await hole.stop();
    }
  });

  it('tells unavailability from an answer, and says nothing of a call its caller aborted', () => {
    expect(isUnavailability(timeout())).toBe(true);
    expect(isUnavailability(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isUnavailability({ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } })).toBe(true);
    expect(isUnavailability({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } })).toBe(true);
    expect(isUnavailability({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } })).toBe(
      false,
    );
    expect(isUnavailability(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe(false);
  });
});

describe('logDependencyFailure', () => {
  function recording() {
    const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
    const at =
      (level: string) =>
      (message: string, ...attributes: Record<string, unknown>[]): void => {
        lines.push({ level, message, fields: Object.assign({}, ...attributes) });
      };
    const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
    return { log, lines };
  }

  it('WARN for a real failure, DEBUG while the dependency is backed off', () => {
    const { log, lines } = recording();
    logDependencyFailure(log, 'a', { connection: 'oms' }, timeout());
    logDependencyFailure(log, 'b', { connection: 'oms' }, new DependencyUnavailableError('SecretsManager'));
    expect(lines.map(({ level, message }) => `${level} ${message}`)).toEqual(['warn a', 'debug b']);
    expect(lines[0]?.fields).toEqual({
      connection: 'oms',
      error: { name: 'TimeoutError', message: 'request timed out' },
    });
  });

  it('a last use not recorded while the table is backed off is no WARN', async () => {
    const { log, lines } = recording();
    const clock = new ManualClock();
    const recorder = new LastUseRecorder({
      store: {
        record: () => Promise.reject(new DependencyUnavailableError('Table')),
      },
      clock,
      log,
    });
    await recorder.touch('KEYA', noDeadline);
    expect(lines.map(({ level, message }) => `${level} ${message}`)).toEqual([
      'debug last use of a caller key not recorded',
    ]);
  });
});
