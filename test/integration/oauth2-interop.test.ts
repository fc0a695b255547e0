import { InvalidClientError } from '../../shared/errors';
import { OAuth2ClientCredentialsProvider } from '../../shared/upstream/oauth2';
import { type RunningChild, startChild } from '../support/child-process';
import { ManualClock } from '../support/fakes';

/**
 * Interoperability of our oauth2 provider with a real, certified OAuth 2.0 server (oidc-provider),
 * over a real socket: both client authentication methods, and a client secret with every
 * character RFC 6749 2.3.1 makes us form-urlencode before Basic's base64.
 */
const RESERVED_SECRET = 'p%+:/ &=-secret';

describe('oauth2 provider against oidc-provider', () => {
  let server: RunningChild;
  let tokenUrl: string;

  beforeAll(async () => {
    const clients = [
      {
        client_id: 'basic:client',
        client_secret: RESERVED_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'post client',
        client_secret: RESERVED_SECRET,
        token_endpoint_auth_method: 'client_secret_post',
      },
    ];
    server = await startChild(
      process.execPath,
      ['test/support/oidc-server.mjs', JSON.stringify(clients)],
      /READY (\S+)/,
    );
    tokenUrl = `${server.ready}/protocol/openid-connect/token`;
  });

  afterAll(async () => {
    await server?.stop();
  });

  const provider = (clientAuth: 'client_secret_basic' | 'client_secret_post') => {
    const clock = { now: () => Date.now() };
    return new OAuth2ClientCredentialsProvider({
      tokenUrl,
      clientAuth,
      timeoutMs: 5000,
      clock,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
  };

  const request = (clientId: string, clientSecret = RESERVED_SECRET) => ({
    connection: 'interop',
    credentials: { clientId, clientSecret, versionId: 'v1' },
    deadline: Date.now() + 5000,
  });

  it.each([
    ['client_secret_basic', 'basic:client'],
    ['client_secret_post', 'post client'],
  ] as const)('gets a token with %s and a secret full of reserved characters', async (method, clientId) => {
    const before = Date.now();
    const token = await provider(method).requestToken(request(clientId));
    expect(token.accessToken.length).toBeGreaterThan(20);
    expect(token.tokenType).toBe('Bearer');
    expect(token.secretVersion).toBe('v1');
    // oidc-provider answers expires_in 600 as a duration.
    expect(token.expiresAt - token.obtainedAt).toBe(600_000);
    expect(token.obtainedAt).toBeGreaterThanOrEqual(before);
    expect(token.refreshToken).toBeUndefined();
  });

  it.each([
    ['client_secret_basic', 'basic:client'],
    ['client_secret_post', 'post client'],
  ] as const)('sends %s and never both', async (method, clientId) => {
    const sent: { authorization: string | null; body: URLSearchParams }[] = [];
    const recording = new OAuth2ClientCredentialsProvider({
      tokenUrl,
      clientAuth: method,
      timeoutMs: 5000,
      clock: { now: () => Date.now() },
      log: { debug() {}, info() {}, warn() {}, error() {} },
      fetch: async (input, init) => {
        sent.push({
          authorization: new Headers(init?.headers).get('authorization'),
          body: new URLSearchParams(String(init?.body)),
        });
        return fetch(input, init);
      },
    });
    await recording.requestToken(request(clientId));
    expect(sent).toHaveLength(1);
    const [{ authorization, body } = { authorization: null, body: new URLSearchParams() }] = sent;
    expect(body.get('grant_type')).toBe('client_credentials');
    if (method === 'client_secret_basic') {
      // RFC 6749 2.3.1: form-urlencode each part, then base64: the ':' inside the client id and
      // the reserved characters of the secret must not reach the wire raw.
      expect(authorization).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
      const decoded = Buffer.from(String(authorization).slice('Basic '.length), 'base64').toString('utf8');
      const parts = decoded.split(':');
      expect(parts).toHaveLength(2);
      expect(decoded).not.toMatch(/[ &=/]/);
      const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
      expect(parts.map((part) => formDecode(part))).toEqual([clientId, RESERVED_SECRET]);
      expect(body.has('client_secret')).toBe(false);
    } else {
      expect(authorization).toBeNull();
      expect(body.get('client_id')).toBe(clientId);
      expect(body.get('client_secret')).toBe(RESERVED_SECRET);
    }
  });

  it.each(['client_secret_basic', 'client_secret_post'] as const)(
    'classifies a wrong secret as invalid_client with %s',
    async (method) => {
      const clientId = method === 'client_secret_basic' ? 'basic:client' : 'post client';
      const error = await provider(method)
        .requestToken(request(clientId, 'wrong'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidClientError);
      expect((error as InvalidClientError).upstreamStatus).toBe(401);
    },
  );

  it('the deadline bounds the call', async () => {
    const clock = new ManualClock(Date.now());
    const late = new OAuth2ClientCredentialsProvider({
      tokenUrl,
      clientAuth: 'client_secret_post',
      timeoutMs: 5000,
      clock,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    await expect(late.requestToken({ ...request('post client'), deadline: clock.now() - 1 })).rejects.toThrow(
      /no time left/,
    );
  });
});
