import { describeError, LOGGED_MESSAGE_MAX, loggableText } from '../../shared/errors';
import type { Log } from '../../shared/logging/ports';
import type { TokenRequest } from '../../shared/tokens/ports';
import { AstratoClient } from '../../shared/upstream/astrato';
import { OAuth2ClientCredentialsProvider } from '../../shared/upstream/oauth2';
import { ManualClock } from '../support/fakes';

/** Upstream text reaches log lines capped: a hostile answer cannot write kilobytes into every line. */
const clock = new ManualClock();
const request: TokenRequest = {
  connection: 'c',
  credentials: { clientId: 'id', clientSecret: 'secret', versionId: 'v1' },
  deadline: clock.now() + 5_000,
};

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const record = (message: string, ...attributes: Record<string, unknown>[]) =>
    lines.push(JSON.stringify({ message, ...Object.assign({}, ...attributes) }));
  return { lines, debug: record, info: record, warn: record, error: record };
}

const answering =
  (status: number, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  async () =>
    new Response(body, { status, headers });

describe('upstream text in logs is capped', () => {
  it('loggableText keeps short text, cuts long text saying how much, and replaces control characters', () => {
    expect(loggableText('Invalid client credentials')).toBe('Invalid client credentials');
    expect(loggableText('a\nb\u0000c')).toBe('a?b?c');
    const cut = loggableText('x'.repeat(10_000));
    expect(cut).toBe(`${'x'.repeat(200)}... (9800 more characters)`);
  });

  it.each([
    ['a 10 KB error_description', { error: 'invalid_request', error_description: 'D'.repeat(10_000) }],
    ['a 10 KB error code', { error: 'E'.repeat(10_000), error_description: 'short' }],
  ])('an OAuth 2.0 error with %s: the error, as it will be logged, stays short', async (_label, body) => {
    const log = recordingLog();
    const provider = new OAuth2ClientCredentialsProvider({
      tokenUrl: 'http://127.0.0.1:9/token',
      clientAuth: 'client_secret_basic',
      timeoutMs: 1000,
      clock,
      log,
      fetch: answering(400, JSON.stringify(body)),
    });
    const error = await provider.requestToken(request).catch((e: unknown) => e);
    const described = describeError(error);
    expect(described.message.length).toBeLessThanOrEqual(LOGGED_MESSAGE_MAX + 40);
    // The description is still there for a person to read, cut short.
    if (body.error === 'invalid_request')
      expect(described.message).toMatch(/invalid_request \(400\): DDDD.*more characters\)$/);
    else expect(described.message).toMatch(/not an RFC 6749 error code: E{40}\.\.\./);
    // The provider logs nothing itself for an OAuth 2.0 error: its caller logs the described error.
    expect(log.lines).toEqual([]);
  });

  it('a token endpoint answering a 10 KB page that is not OAuth 2.0: the line it logs stays short', async () => {
    const log = recordingLog();
    const provider = new OAuth2ClientCredentialsProvider({
      tokenUrl: 'http://127.0.0.1:9/token',
      clientAuth: 'client_secret_basic',
      timeoutMs: 1000,
      clock,
      log,
      fetch: answering(400, `<html>${'p'.repeat(10_000)}</html>`, {
        'content-type': `text/html; ${'x'.repeat(10_000)}`,
      }),
    });
    await expect(provider.requestToken(request)).rejects.toThrow();
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toContain('not an OAuth 2.0 token response');
    expect(log.lines[0]?.length).toBeLessThan(1_000);
  });

  it('an Astrato answer with a 10 KB content type is logged with the content type cut short', async () => {
    const log = recordingLog();
    const client = new AstratoClient({
      baseUrl: 'http://127.0.0.1:9',
      timeoutMs: 1000,
      clock,
      log,
      fetch: answering(404, 'not here', { 'content-type': `text/html; ${'x'.repeat(10_000)}` }),
    });
    await expect(client.requestToken(request)).rejects.toThrow();
    expect(log.lines.length).toBeGreaterThan(0);
    for (const line of log.lines) expect(line.length).toBeLessThan(1_000);
  });

  it('a foreign error with a huge message is described within the cap', () => {
    expect(describeError(new Error('m'.repeat(100_000))).message.length).toBeLessThanOrEqual(
      LOGGED_MESSAGE_MAX + 40,
    );
  });
});
