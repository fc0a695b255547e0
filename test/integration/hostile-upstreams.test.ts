import { mkdirSync, writeFileSync } from 'node:fs';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { createCaller } from '../../shared/callers/admin';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { type BrokerConfigInput, parseBrokerConfig } from '../../shared/config/schema';
import type { ApiHandler } from '../support/api-harness';
import { bearer, invoke } from '../support/api-harness';
import { lambdaContext } from '../support/events';
import { BIG_BYTES, type HostileUpstream, startHostileUpstream } from '../support/hostile-upstream';
import { OutputCapture } from '../support/log-capture';
import { TABLE_NAME, TestStack } from '../support/stack';

/**
 * Upstreams that answer too much or the wrong thing, through the real handler modules:
 *
 * - a 50 MB answer and an endless one from each kind of upstream call (token endpoints, Astrato's
 *   m2m token and `/oem/setup`, the refresher's probe) are refused with 502 `upstream_rejected`
 *   (not a 504: reading stopped at the cap, long before the deadline), logged with the endpoint
 *   and the size seen, and the process's memory stays flat;
 * - a wrong URL answering a 404 HTML page is logged with the status, content type, the configured
 *   URL's host and what to check.
 */
const output = new OutputCapture();
let stack: TestStack;
let hostile: HostileUpstream;
let api: ApiHandler;
let refresh: (event: ScheduledEvent, context: Context) => Promise<unknown>;
let key: string;

const SECRETS = { astrato: 'ticket-broker/astrato', oms: 'ticket-broker/oms' } as const;

function configFor(hostileUrl: string, keycloak: TestStack['keycloak']): BrokerConfigInput {
  const astrato = (baseUrl: string) => ({
    kind: 'astrato-oem' as const,
    baseUrl,
    secretId: SECRETS.astrato,
    timeoutMs: 3000,
    requireGroup: false,
  });
  const oauth2 = (tokenUrl: string, probeUrl?: string) => ({
    kind: 'oauth2-client-credentials' as const,
    tokenUrl,
    clientAuth: 'client_secret_basic' as const,
    secretId: SECRETS.oms,
    vendable: true,
    timeoutMs: 3000,
    ...(probeUrl ? { probeUrl } : {}),
  });
  return {
    connections: {
      'token-big': oauth2(`${hostileUrl}/big/token`),
      'token-endless': oauth2(`${hostileUrl}/endless/token`),
      'm2m-big': astrato(`${hostileUrl}/big`),
      'm2m-endless': astrato(`${hostileUrl}/endless`),
      'setup-big': astrato(`${hostileUrl}/setup-big`),
      'setup-endless': astrato(`${hostileUrl}/setup-endless`),
      'probe-big': oauth2(keycloak.tokenUrl, `${hostileUrl}/big/oms-api/`),
      'probe-endless': oauth2(keycloak.tokenUrl, `${hostileUrl}/endless/oms-api/`),
      'token-404': oauth2(`${hostileUrl}/html404/realms/wrong/protocol/openid-connect/token`),
      'm2m-404': astrato(`${hostileUrl}/html404`),
      'setup-404': astrato(`${hostileUrl}/setup-html404`),
      'probe-404': oauth2(keycloak.tokenUrl, `${hostileUrl}/html404/oms-api/`),
    },
  };
}

beforeAll(async () => {
  output.start();
  [stack, hostile] = await Promise.all([TestStack.start(), startHostileUpstream()]);
  const config = parseBrokerConfig(configFor(hostile.url, stack.keycloak));
  Object.assign(process.env, stack.environmentWith(config, 'hostile'));
  await jest.isolateModulesAsync(async () => {
    api = (await import('../../functions/issue-ticket/handler')).handler as unknown as ApiHandler;
    refresh = (await import('../../functions/refresh-tokens/handler')).handler as unknown as typeof refresh;
  });
  const store = new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME });
  ({ key } = await createCaller(
    store,
    { name: 'hostile', connections: Object.keys(config.connections), tokens: true, anyEmail: true },
    { connections: config.connections, now: new Date() },
  ));
}, 30_000);

afterAll(async () => {
  output.stop();
  await Promise.all([stack?.stop(), hostile?.stop()]);
});

const ticket = (connection: string) =>
  invoke(api, {
    headers: bearer(key),
    body: { connection, email: 'ada@example.com' },
  });
const vend = (connection: string) =>
  invoke(api, { path: `/v1/connections/${connection}/token`, headers: bearer(key) });
const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as ScheduledEvent;

/** Log lines (JSON) written since `mark`, as Powertools wrote them to stdout. */
function linesSince(mark: number): Record<string, unknown>[] {
  return output.lines().slice(mark);
}

/**
 * Samples the resident set size while `work` runs; returns the largest growth over the start.
 * Sampling can only miss a peak, never invent one, so a bound on it is safe against a slow machine.
 */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  global.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(sample);
  }
  peak = Math.max(peak, process.memoryUsage.rss());
  return peak - start;
}

describe('upstream answers over the 64 KiB cap', () => {
  it('50 MB and endless answers from token endpoints, /oem/setup and the probe are refused; memory stays flat', async () => {
    const mark = output.lines().length;
    const results: Record<string, { status: number; code: unknown }> = {};
    const growth = await peakRssGrowth(async () => {
      for (const connection of ['token-big', 'token-endless']) {
        const response = await vend(connection);
        results[connection] = { status: response.status, code: response.body.code };
      }
      for (const connection of ['m2m-big', 'm2m-endless', 'setup-big', 'setup-endless']) {
        const response = await ticket(connection);
        results[connection] = { status: response.status, code: response.body.code };
      }
      await refresh(scheduled, lambdaContext('refresh-tokens', 30_000)).catch(() => undefined);
    });
    // The figure for the record.
    mkdirSync('test-results', { recursive: true });
    writeFileSync(
      'test-results/hostile-upstreams.json',
      `${JSON.stringify({ peakRssGrowthMiB: Number((growth / 1048576).toFixed(1)), results }, null, 2)}\n`,
    );
    const refused = { status: 502, code: 'upstream_rejected' };
    expect(results).toEqual({
      'token-big': refused,
      'token-endless': refused,
      'm2m-big': refused,
      'm2m-endless': refused,
      'setup-big': refused,
      'setup-endless': refused,
    });

    const tooLarge = linesSince(mark).filter((line) => line.message === 'upstream answer too large: refused');
    const seen = (endpoint: RegExp) => tooLarge.filter((line) => endpoint.test(String(line.endpoint)));
    // 50 MB announced: refused on the header, before reading any of it.
    for (const endpoint of [
      /^token endpoint/,
      /^astrato m2m token$/,
      /^astrato oem setup$/,
      /^probe of probe-big$/,
    ]) {
      expect(seen(endpoint)).toContainEqual(
        expect.objectContaining({ declaredBytes: BIG_BYTES, bytesRead: 0, limitBytes: 65_536 }),
      );
    }
    // Endless: reading stopped just past the cap (one chunk at most).
    for (const endpoint of [
      /^token endpoint/,
      /^astrato m2m token$/,
      /^astrato oem setup$/,
      /^probe of probe-endless$/,
    ]) {
      const lines = seen(endpoint).filter((line) => line.declaredBytes === undefined);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line.bytesRead).toBeGreaterThan(65_536);
        expect(line.bytesRead).toBeLessThanOrEqual(65_536 + 128 * 1024);
        expect(line.host).toBe(new URL(hostile.url).host);
      }
    }
    // The refresher recorded both probes as failed, one outcome line each.
    const outcomes = linesSince(mark).filter((line) => line.message === 'refresh outcome') as {
      connection: string;
      error?: string;
    }[];
    expect(
      outcomes
        .filter((result) => result.connection.startsWith('probe-') && result.connection !== 'probe-404')
        .sort((a, b) => a.connection.localeCompare(b.connection)),
    ).toEqual([
      expect.objectContaining({ connection: 'probe-big', error: 'probe_failed' }),
      expect.objectContaining({ connection: 'probe-endless', error: 'probe_failed' }),
    ]);

    // Without a cap this was 340 MB for one 50 MB answer, and unbounded for an endless one.
    expect(growth).toBeLessThan(100 * 1024 * 1024);
  }, 60_000);
});

describe('a wrong URL answering a 404 HTML page', () => {
  const diagnosis = (line: Record<string, unknown> | undefined, check: RegExp) => {
    expect(line).toMatchObject({
      level: 'ERROR',
      upstreamStatus: 404,
      contentType: 'text/html; charset=utf-8',
      host: new URL(hostile.url).host,
    });
    expect(String(line?.check)).toMatch(check);
    // The host only: never the configured path.
    expect(JSON.stringify(line)).not.toContain('/html404');
  };

  it('a token endpoint: status, content type, host, and "check tokenUrl"', async () => {
    const mark = output.lines().length;
    expect((await vend('token-404')).status).toBe(502);
    diagnosis(
      linesSince(mark).find((line) => String(line.message).includes('not an OAuth 2.0 token response')),
      /tokenUrl/,
    );
  });

  it('Astrato\'s m2m token and /oem/setup: status, content type, host, and "check baseUrl"', async () => {
    let mark = output.lines().length;
    expect((await ticket('m2m-404')).status).toBe(502);
    diagnosis(
      linesSince(mark).find((line) => line.message === 'astrato m2m token: unexpected answer'),
      /baseUrl/,
    );
    mark = output.lines().length;
    expect((await ticket('setup-404')).status).toBe(502);
    diagnosis(
      linesSince(mark).find((line) => line.message === 'astrato oem setup: unexpected answer'),
      /baseUrl/,
    );
  });

  it('the probe: status, content type, host, and "check probeUrl"', async () => {
    const mark = output.lines().length;
    await refresh(scheduled, lambdaContext('refresh-tokens', 30_000)).catch(() => undefined);
    diagnosis(
      linesSince(mark).find(
        (line) => line.message === 'token probe failed' && line.connection === 'probe-404',
      ),
      /probeUrl/,
    );
  });
});
