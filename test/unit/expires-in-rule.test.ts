import { UpstreamRejectedError } from '../../shared/errors';
import { silentLog } from '../../shared/logging/ports';
import type { TokenRequest } from '../../shared/tokens/ports';
import { AstratoClient } from '../../shared/upstream/astrato';
import { OAuth2ClientCredentialsProvider } from '../../shared/upstream/oauth2';
import { ManualClock } from '../support/fakes';

/**
 * One rule for `expires_in` on both token paths: the same value in Astrato's m2m answer and in an
 * OAuth 2.0 token response gives the same outcome (the same expiry, or the same refusal).
 */
const clock = new ManualClock();
const request: TokenRequest = {
  connection: 'c',
  credentials: { clientId: 'id', clientSecret: 'secret', versionId: 'v1' },
  deadline: clock.now() + 5_000,
};

/** A token endpoint answering `expires_in: value` (left out when `undefined`). */
function answering(value: unknown) {
  return async () =>
    new Response(
      JSON.stringify({
        access_token: 'at',
        token_type: 'Bearer',
        ...(value === undefined ? {} : { expires_in: value }),
      }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
}

async function outcome(provider: { requestToken(request: TokenRequest): Promise<{ expiresAt: number }> }) {
  try {
    return { expiresAt: (await provider.requestToken(request)).expiresAt };
  } catch (error) {
    return { refused: error instanceof UpstreamRejectedError ? 'upstream_rejected' : String(error) };
  }
}

describe('expires_in: one rule for Astrato and OAuth 2.0', () => {
  it.each([
    ['-1', -1, 'refused'],
    ['"-1"', '-1', 'refused'],
    ['-0.5', -0.5, 'refused'],
    ['"soon"', 'soon', 'refused'],
    ['null', null, 'refused'],
    ['true', true, 'refused'],
    ['an object', { seconds: 5 }, 'refused'],
    ['absent', undefined, 'default'],
    ['0', 0, 'default'],
    ['600', 600, 'read'],
    ['"600"', '600', 'read'],
    ['epoch milliseconds', clock.now() + 600_000, 'read'],
    ['ten years', 10 * 365 * 86_400, 'default'],
  ])('%s', async (_label, value, expected) => {
    const fetch = answering(value);
    const common = { timeoutMs: 1000, clock, log: silentLog, fetch };
    const astrato = await outcome(new AstratoClient({ baseUrl: 'http://127.0.0.1:9', ...common }));
    const oauth2 = await outcome(
      new OAuth2ClientCredentialsProvider({
        tokenUrl: 'http://127.0.0.1:9/token',
        clientAuth: 'client_secret_basic',
        ...common,
      }),
    );
    expect(astrato).toEqual(oauth2);
    if (expected === 'refused') expect(astrato).toEqual({ refused: 'upstream_rejected' });
    if (expected === 'default') expect(astrato).toEqual({ expiresAt: clock.now() + 300_000 });
    if (expected === 'read') expect(astrato).toEqual({ expiresAt: clock.now() + 600_000 });
  });
});
