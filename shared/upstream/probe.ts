import type { Clock } from '../clock';
import type { Connection } from '../config/schema';
import { describeError, UpstreamUnavailableError } from '../errors';
import type { Log } from '../logging/ports';
import { type FetchFn, unexpectedAnswer, upstreamFetch } from './http';

const CHECK_PROBE_URL =
  'the connection probeUrl: a GET there with the fresh token must answer 2xx; a 404 or an HTML page usually means a wrong URL, a 401 or 403 that the API does not accept this client';

/** What a probe found: a 2xx, or another answer (or none) with what an operator should check. */
export type ProbeAnswer =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      /** The API's status; absent when it gave no answer. */
      readonly status?: number;
      /** Log attributes: the status, content type and host, or the error, and what to check. */
      readonly diagnosis: Readonly<Record<string, unknown>>;
    };

export interface TokenProbeOptions {
  /** The connection's `probeUrl`. */
  readonly url: string;
  /**
   * How long the probe waits for its answer, within the refresh's own deadline: the connection's
   * `timeoutMs`, the per-attempt upstream timeout of every call on that connection.
   */
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch?: FetchFn;
}

/**
 * Proves a token works where it is used: a `GET` of the connection's `probeUrl` with it
 * (docs/design.md "Upstreams": OMS's `GET .../oms-api/`), after the refresher renewed it.
 */
export class TokenProbe {
  constructor(private readonly options: TokenProbeOptions) {}

  /**
   * Sends `accessToken` to the probe URL. Never throws: any answer, and no answer at all, is the
   * probe's finding, which the refresher records. A 401 means the API refuses the token: the
   * refresher renews it once ({@link refusesToken}).
   * @returns `ok` for a 2xx; otherwise the status when there was one, and the diagnosis
   */
  async check(connection: string, accessToken: string, deadline: number): Promise<ProbeAnswer> {
    const { url, clock, log } = this.options;
    let status: number;
    let answer: Parameters<typeof unexpectedAnswer>[0];
    try {
      answer = await upstreamFetch(
        url,
        { method: 'GET', headers: { authorization: `Bearer ${accessToken}` } },
        {
          what: `probe of ${connection}`,
          timeoutMs: this.options.timeoutMs,
          deadline,
          clock,
          log,
          ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
        },
      );
      status = answer.status;
    } catch (error) {
      // A 5xx or 429 is the probe's answer; no answer, or one too large to read, is a failure of its own.
      if (!(error instanceof UpstreamUnavailableError && error.upstreamStatus !== undefined))
        return { ok: false, diagnosis: { error: describeError(error), check: CHECK_PROBE_URL } };
      status = error.upstreamStatus;
      answer = { status, headers: { get: () => null } };
    }
    if (status >= 200 && status <= 299) return { ok: true, status };
    return { ok: false, status, diagnosis: unexpectedAnswer(answer, url, CHECK_PROBE_URL) };
  }
}

/** Whether the probe's API refused the token itself (401), rather than the request or the client. */
export function refusesToken(answer: ProbeAnswer): boolean {
  return answer.status === 401;
}

/** A probe for each connection that has a `probeUrl`, by connection id. */
export function tokenProbes(
  connections: Readonly<Record<string, Connection>>,
  options: Omit<TokenProbeOptions, 'url' | 'timeoutMs'>,
): Readonly<Record<string, TokenProbe>> {
  const probes: Record<string, TokenProbe> = {};
  for (const [id, connection] of Object.entries(connections)) {
    if (connection.kind === 'oauth2-client-credentials' && connection.probeUrl)
      probes[id] = new TokenProbe({ ...options, url: connection.probeUrl, timeoutMs: connection.timeoutMs });
  }
  return probes;
}
