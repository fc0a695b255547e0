import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { sleep } from '../shared/clock';
import { send } from './http-kit';

/**
 * Fault injection for the simulators: what tests and benchmarks use to make an upstream slow,
 * failing, flaky or broken, per endpoint.
 */
export const faultSchema = z
  .object({
    /** Added delay before answering (applies to every matching request, whatever `errorRate` says). */
    latencyMs: z.number().min(0).optional(),
    /** Force this HTTP status, with a plausible body for the endpoint (an RFC 6749 error on token endpoints). */
    status: z.number().int().min(200).max(599).optional(),
    /** `Retry-After` header on forced responses (seconds or an HTTP date). */
    retryAfter: z.string().optional(),
    /** Raw body to send instead (e.g. malformed JSON); status 200 unless `status` is set. */
    body: z.string().optional(),
    /** Content type of `body` (default `application/json`). */
    contentType: z.string().optional(),
    /** Destroy the socket without answering: the client sees a network error. */
    drop: z.boolean().optional(),
    /** 0..1: share of matching requests that get the forced response or drop. */
    errorRate: z.number().min(0).max(1).optional(),
    /** Apply to the next N matching requests only, then remove itself. Every matching request counts. */
    count: z.number().int().min(1).optional(),
  })
  .strict();

export type Fault = z.infer<typeof faultSchema>;

/**
 * Validates control input with a zod schema.
 * @throws TypeError naming each bad field, for a 400 over HTTP
 */
export function parseControlInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.code === 'unrecognized_keys'
      ? `unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(', ')}`
      : `${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new TypeError(`bad ${what}: ${problems.join('; ')}`);
}

/** What a forced status carries when the fault gives no `body`. */
export interface FaultBody {
  body: string;
  contentType: string;
}

/**
 * Deterministic PRNG (mulberry32) for `errorRate`: pass `random: seededRandom(42)` to a simulator
 * and the same requests fail on every run.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reason phrase of a forced status (node's own table), used in default bodies. */
export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Simulated fault';
}

/** RFC 6749 5.2 error code that a token endpoint would plausibly send with `status`. */
export function oauthErrorFor(status: number): string {
  if (status === 400) return 'invalid_request';
  if (status === 401) return 'invalid_client';
  if (status === 403) return 'unauthorized_client';
  if (status === 429 || status === 503) return 'temporarily_unavailable';
  return 'server_error';
}

interface ActiveFault {
  fault: Fault;
  remaining?: number;
}

/** Outcome of {@link FaultController.take} for one request. */
export interface FaultDecision {
  latencyMs: number;
  /** Set when this request gets the forced response or the drop. */
  override?: Fault;
}

/**
 * Faults per endpoint, plus `'*'` for every endpoint. A fault set on an endpoint takes precedence
 * over `'*'` for that endpoint (they do not combine).
 */
export class FaultController<E extends string> {
  private readonly active = new Map<E | '*', ActiveFault>();

  /**
   * @param endpoints the endpoints this simulator knows (others are refused by {@link set})
   * @param random source for `errorRate`; seed it ({@link seededRandom}) for deterministic tests
   */
  constructor(
    readonly endpoints: readonly E[],
    private readonly random: () => number = Math.random,
  ) {}

  /** Sets (replaces) the fault of `endpoint`. @throws TypeError on an unknown endpoint or a bad fault */
  set(endpoint: E | '*', fault: Fault): void {
    if (endpoint !== '*' && !this.endpoints.includes(endpoint)) {
      throw new TypeError(`unknown endpoint "${endpoint}" (known: ${this.endpoints.join(', ')}, *)`);
    }
    const valid = parseControlInput(faultSchema, fault, 'fault');
    this.active.set(endpoint, {
      fault: valid,
      ...(fault.count !== undefined ? { remaining: fault.count } : {}),
    });
  }

  /** Removes the fault of `endpoint`, or every fault when called without one. */
  clear(endpoint?: E | '*'): void {
    if (endpoint === undefined) this.active.clear();
    else this.active.delete(endpoint);
  }

  /** Faults in force, with the remaining `count` where one was set. */
  list(): Partial<Record<E | '*', Fault>> {
    const out: Partial<Record<E | '*', Fault>> = {};
    for (const [endpoint, { fault, remaining }] of this.active) {
      out[endpoint] = remaining === undefined ? { ...fault } : { ...fault, count: remaining };
    }
    return out;
  }

  /** Decides what happens to one request to `endpoint` (consumes one `count`). */
  take(endpoint: E): FaultDecision | undefined {
    const key: E | '*' | undefined = this.active.has(endpoint)
      ? endpoint
      : this.active.has('*')
        ? '*'
        : undefined;
    if (key === undefined) return undefined;
    const entry = this.active.get(key);
    if (entry === undefined) return undefined;
    if (entry.remaining !== undefined) {
      entry.remaining -= 1;
      if (entry.remaining <= 0) this.active.delete(key);
    }
    const { fault } = entry;
    const forces = fault.status !== undefined || fault.body !== undefined || fault.drop === true;
    const hit = forces && (fault.errorRate === undefined || this.random() < fault.errorRate);
    return { latencyMs: fault.latencyMs ?? 0, ...(hit ? { override: fault } : {}) };
  }

  /**
   * Applies the fault of `endpoint` to a request: waits the latency, then answers or drops it when
   * the fault says so. Returns true when the request was answered (or dropped) here.
   *
   * @param defaultBody the endpoint's plausible body for a forced status without `body`
   */
  async apply(
    endpoint: E,
    res: ServerResponse,
    signal: AbortSignal,
    defaultBody: (status: number) => FaultBody,
  ): Promise<boolean> {
    const decision = this.take(endpoint);
    if (decision === undefined) return false;
    await sleep(decision.latencyMs, signal);
    const fault = decision.override;
    if (fault === undefined) return false;
    if (fault.drop) {
      res.socket?.destroy();
      return true;
    }
    const status = fault.status ?? 200;
    const fallback = fault.body === undefined ? defaultBody(status) : undefined;
    const body = fault.body ?? fallback?.body ?? '';
    const contentType = fault.contentType ?? fallback?.contentType ?? 'application/json';
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
    send(res, status, body, contentType, headers);
    return true;
  }
}

/** Requests received per endpoint, faulted ones included; and how many were open at once. */
export class Counters<E extends string> {
  private values: Record<E, number>;
  private open: Record<E, number>;
  private peaks: Record<E, number>;

  /**
   * @param observe called as a request opens (+1) and as its response closes (-1), in the order
   *   they happen: a test replays it across several simulators of one process
   */
  constructor(
    private readonly endpoints: readonly E[],
    private readonly observe?: (endpoint: E, change: 1 | -1) => void,
  ) {
    this.values = Counters.zero(endpoints);
    this.open = Counters.zero(endpoints);
    this.peaks = Counters.zero(endpoints);
  }

  /**
   * Counts a request. Given its response, the request is also counted as in flight until the
   * response is closed (answered, dropped, or given up by the client), so a test or a benchmark
   * can see how many requests a client had open at once.
   */
  hit(endpoint: E, response?: { once(event: 'close', listener: () => void): unknown }): void {
    this.values[endpoint] += 1;
    if (response === undefined) return;
    this.open[endpoint] += 1;
    this.peaks[endpoint] = Math.max(this.peaks[endpoint], this.open[endpoint]);
    this.observe?.(endpoint, 1);
    response.once('close', () => {
      this.open[endpoint] -= 1;
      this.observe?.(endpoint, -1);
    });
  }

  snapshot(): Record<E, number> {
    return { ...this.values };
  }

  /** Requests open now, and the most open at once since the last reset. */
  inFlight(): { current: Record<E, number>; peak: Record<E, number> } {
    return { current: { ...this.open }, peak: { ...this.peaks } };
  }

  /** Zeroes the counts and the peaks (requests still open stay counted as open). */
  reset(): void {
    this.values = Counters.zero(this.endpoints);
    this.peaks = { ...this.open };
  }

  private static zero<E extends string>(endpoints: readonly E[]): Record<E, number> {
    return Object.fromEntries(endpoints.map((e) => [e, 0])) as Record<E, number>;
  }
}
