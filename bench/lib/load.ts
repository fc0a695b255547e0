import { Agent, request } from 'node:http';

/** A closed-loop load generator over keep-alive HTTP/1.1 (node:http: the least client overhead). */
export interface LoadOptions {
  readonly url: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** The body of request `i`. */
  readonly body?: (i: number) => string;
  readonly concurrency: number;
  /** Stop after this many requests ... */
  readonly total?: number;
  /** ... or after this long. */
  readonly durationMs?: number;
}

export interface Sample {
  readonly startedAt: number;
  readonly ms: number;
  readonly status: number;
  /** `Server-Timing: token;desc="..."`: where the partner token came from. */
  readonly origin?: string;
}

export interface LoadResult {
  readonly samples: Sample[];
  readonly wallMs: number;
}

function once(agent: Agent, options: LoadOptions, i: number): Promise<Sample> {
  const url = new URL(options.path, options.url);
  const body = options.body?.(i);
  const startedAt = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        agent,
        method: options.method ?? 'POST',
        headers: {
          ...options.headers,
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const timing = String(res.headers['server-timing'] ?? '');
          const origin = /desc="([^"]+)"/.exec(timing)?.[1];
          resolve({
            startedAt,
            ms: performance.now() - startedAt,
            status: res.statusCode ?? 0,
            ...(origin ? { origin } : {}),
          });
        });
      },
    );
    req.on('error', () => resolve({ startedAt, ms: performance.now() - startedAt, status: 0 }));
    req.end(body);
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const samples: Sample[] = [];
  const started = performance.now();
  let next = 0;
  const more = () =>
    options.total !== undefined
      ? next < options.total
      : performance.now() - started < (options.durationMs ?? 0);
  const worker = async () => {
    while (more()) {
      const i = next++;
      samples.push(await once(agent, options, i));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  agent.destroy();
  return { samples, wallMs: performance.now() - started };
}
