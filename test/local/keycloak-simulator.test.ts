import { seededRandom } from '../../local/faults';
import {
  type KeycloakSimulator,
  type KeycloakSimulatorOptions,
  OMS_WELCOME,
  startKeycloakSimulator,
} from '../../local/keycloak-simulator';
import { eventually } from '../support/eventually';

/** RFC 6749 2.3.1: form-urlencode id and secret, then base64 `id:secret`. */
const basic = (id: string, secret: string) => {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
};

const RESERVED_SECRET = 'p%+:/ &=s3cr3t';
const RESERVED_ID = 'oms:client +1';

describe('Keycloak-style token server and OMS API stand-in', () => {
  const sims: KeycloakSimulator[] = [];
  let clock = Date.now();

  const start = async (opts: KeycloakSimulatorOptions = {}) => {
    const sim = await startKeycloakSimulator({ now: () => clock, ...opts });
    sims.push(sim);
    return sim;
  };

  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.stop()));
    clock = Date.now();
  });

  const post = (
    sim: KeycloakSimulator,
    form: Record<string, string>,
    headers: Record<string, string> = {},
    url = sim.tokenUrl,
  ) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });

  const cc = (
    sim: KeycloakSimulator,
    id = 'oms-client',
    secret = 'oms-secret',
    extra: Record<string, string> = {},
  ) => post(sim, { grant_type: 'client_credentials', client_id: id, client_secret: secret, ...extra });

  const accessToken = async (sim: KeycloakSimulator, id = 'oms-client', secret = 'oms-secret') => {
    const res = await cc(sim, id, secret);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown> & { access_token: string; refresh_token?: string };
  };

  const oms = (sim: KeycloakSimulator, bearer?: string) =>
    fetch(sim.omsApiUrl, bearer === undefined ? {} : { headers: { authorization: `Bearer ${bearer}` } });

  const expectOAuthError = async (res: Response, status: number, error: string, description?: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe(error);
    if (description !== undefined) expect(body.error_description).toBe(description);
    return body;
  };

  describe('client_credentials', () => {
    it('answers a Keycloak-shaped token to client_secret_post', async () => {
      const sim = await start();
      expect(sim.tokenUrl).toBe(`${sim.url}/realms/astore-p2p/protocol/openid-connect/token`);
      const res = await cc(sim);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({
        access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
        expires_in: 300,
        refresh_expires_in: 0,
        token_type: 'Bearer',
        'not-before-policy': 0,
        scope: 'profile email',
      });
      const payload = JSON.parse(
        Buffer.from(String(body.access_token).split('.')[1] ?? '', 'base64url').toString(),
      );
      expect(payload).toMatchObject({
        azp: 'oms-client',
        iss: `${sim.url}/realms/astore-p2p`,
        typ: 'Bearer',
      });
      expect(sim.tokensIssued()).toEqual([body.access_token]);
    });

    it('accepts client_secret_basic and client_secret_post with reserved characters in id and secret', async () => {
      const sim = await start({ clients: [{ clientId: RESERVED_ID, clientSecret: RESERVED_SECRET }] });
      const viaBasic = await post(
        sim,
        { grant_type: 'client_credentials' },
        { authorization: basic(RESERVED_ID, RESERVED_SECRET) },
      );
      expect(viaBasic.status).toBe(200);
      const viaPost = await cc(sim, RESERVED_ID, RESERVED_SECRET);
      expect(viaPost.status).toBe(200);

      // Basic without the form-urlencoding step of RFC 6749 2.3.1 does not authenticate.
      const raw = `Basic ${Buffer.from(`${RESERVED_ID}:${RESERVED_SECRET}`).toString('base64')}`;
      await expectOAuthError(
        await post(sim, { grant_type: 'client_credentials' }, { authorization: raw }),
        401,
        'invalid_client',
      );
    });

    it('refuses both authentication methods at once', async () => {
      const sim = await start();
      const res = await post(
        sim,
        { grant_type: 'client_credentials', client_id: 'oms-client', client_secret: 'oms-secret' },
        { authorization: basic('oms-client', 'oms-secret') },
      );
      await expectOAuthError(res, 400, 'invalid_request');
      expect(sim.tokensIssued()).toEqual([]);
    });

    it('answers invalid_client 401, with WWW-Authenticate when Basic was used', async () => {
      const sim = await start();
      const viaBasic = await post(
        sim,
        { grant_type: 'client_credentials' },
        { authorization: basic('oms-client', 'wrong') },
      );
      expect(viaBasic.headers.get('www-authenticate')).toBe('Basic realm="astore-p2p"');
      await expectOAuthError(viaBasic, 401, 'invalid_client', 'Invalid client or Invalid client credentials');

      const viaPost = await cc(sim, 'oms-client', 'wrong');
      expect(viaPost.headers.get('www-authenticate')).toBeNull();
      await expectOAuthError(viaPost, 401, 'invalid_client', 'Invalid client or Invalid client credentials');
      await expectOAuthError(await cc(sim, 'ghost', 'oms-secret'), 401, 'invalid_client');
      await expectOAuthError(
        await post(sim, { grant_type: 'client_credentials', client_id: 'oms-client' }),
        401,
        'invalid_client',
      );
      await expectOAuthError(
        await post(sim, { grant_type: 'client_credentials' }),
        400,
        'invalid_client',
        'Missing client_id parameter',
      );
    });

    it('can answer failed client authentication the ways Keycloak versions do', async () => {
      const as400 = await start({ invalidClientStatus: 400 });
      const res = await post(
        as400,
        { grant_type: 'client_credentials' },
        { authorization: basic('oms-client', 'wrong') },
      );
      expect(res.headers.get('www-authenticate')).toBeNull();
      await expectOAuthError(res, 400, 'invalid_client');

      const legacy = await start({ invalidClientError: 'unauthorized_client' });
      await expectOAuthError(
        await cc(legacy, 'oms-client', 'wrong'),
        401,
        'unauthorized_client',
        'Invalid client or Invalid client credentials',
      );
    });

    it('answers unauthorized_client when service accounts are disabled', async () => {
      const sim = await start({
        clients: [{ clientId: 'web', clientSecret: 's', serviceAccountsEnabled: false }],
      });
      await expectOAuthError(
        await cc(sim, 'web', 's'),
        400,
        'unauthorized_client',
        'Client not enabled to retrieve service account',
      );
    });

    it('refuses other grants, missing parameters, other content types and unknown realms', async () => {
      const sim = await start();
      await expectOAuthError(
        await post(sim, {
          grant_type: 'password',
          client_id: 'oms-client',
          client_secret: 'oms-secret',
          username: 'u',
          password: 'p',
        }),
        400,
        'unsupported_grant_type',
      );
      await expectOAuthError(
        await post(sim, { client_id: 'oms-client', client_secret: 'oms-secret' }),
        400,
        'invalid_request',
        'Missing form parameter: grant_type',
      );
      const json = await fetch(sim.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'client_credentials',
          client_id: 'oms-client',
          client_secret: 'oms-secret',
        }),
      });
      await expectOAuthError(json, 400, 'invalid_request');
      const duplicated = await fetch(sim.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=oms-client&client_secret=oms-secret&client_secret=other',
      });
      await expectOAuthError(duplicated, 400, 'invalid_request');

      const otherRealm = await post(
        sim,
        { grant_type: 'client_credentials' },
        {},
        `${sim.url}/realms/other/protocol/openid-connect/token`,
      );
      expect(otherRealm.status).toBe(404);
      expect(await otherRealm.json()).toEqual({ error: 'Realm does not exist' });
    });

    it('grants allowed scopes and refuses others with invalid_scope', async () => {
      const sim = await start();
      const granted = (await (
        await cc(sim, 'oms-client', 'oms-secret', { scope: 'orders:read' })
      ).json()) as { scope: string };
      expect(granted.scope).toBe('profile email orders:read');
      await expectOAuthError(
        await cc(sim, 'oms-client', 'oms-secret', { scope: 'orders:read admin' }),
        400,
        'invalid_scope',
      );
    });

    it('refuses the old secret after rotation; tokens already issued keep working', async () => {
      const sim = await start();
      const { access_token } = await accessToken(sim);
      sim.rotateClientSecret('oms-client', 'rotated');
      await expectOAuthError(await cc(sim), 401, 'invalid_client');
      expect((await cc(sim, 'oms-client', 'rotated')).status).toBe(200);
      expect((await oms(sim, access_token)).status).toBe(200);
    });

    it('adds or replaces clients at run time', async () => {
      const sim = await start();
      sim.setClient({ clientId: 'late', clientSecret: 'l' });
      expect((await cc(sim, 'late', 'l')).status).toBe(200);
      sim.setClient({ clientId: 'oms-client', clientSecret: 'oms-secret', refreshTokens: true });
      expect((await accessToken(sim)).refresh_token).toEqual(expect.any(String));
    });
  });

  describe('refresh tokens', () => {
    const refreshing = () =>
      start({
        clients: [
          { clientId: 'oms-client', clientSecret: 'oms-secret', refreshTokens: true },
          { clientId: 'other', clientSecret: 'o', refreshTokens: true },
        ],
      });
    const refresh = (sim: KeycloakSimulator, token: string, id = 'oms-client', secret = 'oms-secret') =>
      post(sim, { grant_type: 'refresh_token', refresh_token: token }, { authorization: basic(id, secret) });

    it('issues a refresh token only when the client has them enabled', async () => {
      const plain = await start();
      const body = await accessToken(plain);
      expect('refresh_token' in body).toBe(false);
      expect(body.refresh_expires_in).toBe(0);

      const sim = await refreshing();
      const withRefresh = await accessToken(sim);
      expect(withRefresh.refresh_token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(withRefresh.refresh_expires_in).toBe(1800);
    });

    it('renews with grant_type=refresh_token', async () => {
      const sim = await refreshing();
      const first = await accessToken(sim);
      const res = await refresh(sim, first.refresh_token ?? '');
      expect(res.status).toBe(200);
      const second = (await res.json()) as typeof first;
      expect(second.access_token).not.toBe(first.access_token);
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await oms(sim, second.access_token)).status).toBe(200);
      expect(sim.grantCounts()).toEqual({ client_credentials: 1, refresh_token: 1 });
      await expectOAuthError(
        await post(
          sim,
          { grant_type: 'refresh_token' },
          { authorization: basic('oms-client', 'oms-secret') },
        ),
        400,
        'invalid_request',
      );
    });

    it('answers invalid_grant for revoked, expired, foreign or access tokens', async () => {
      const sim = await refreshing();
      const tokens = await accessToken(sim);
      const refreshToken = tokens.refresh_token ?? '';
      await expectOAuthError(
        await refresh(sim, refreshToken, 'other', 'o'),
        400,
        'invalid_grant',
        'Token is not active',
      );
      await expectOAuthError(
        await refresh(sim, tokens.access_token),
        400,
        'invalid_grant',
        'Token is not active',
      );

      sim.revokeRefreshTokens();
      await expectOAuthError(await refresh(sim, refreshToken), 400, 'invalid_grant', 'Token is not active');
      // Access tokens survive revokeRefreshTokens.
      expect((await oms(sim, tokens.access_token)).status).toBe(200);

      const fresh = (await accessToken(sim)).refresh_token ?? '';
      clock += 1_800_000;
      await expectOAuthError(await refresh(sim, fresh), 400, 'invalid_grant', 'Token is not active');
    });
  });

  describe('OMS API', () => {
    it('welcomes a valid token with the exact text and refuses others with WWW-Authenticate: Bearer', async () => {
      const sim = await start();
      expect(sim.omsApiUrl).toBe(`${sim.url}/oms-api/`);
      const { access_token } = await accessToken(sim);
      const ok = await oms(sim, access_token);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await ok.text()).toBe('Hello ! Welcome to the Astoreshop OMS API');
      expect(OMS_WELCOME).toBe('Hello ! Welcome to the Astoreshop OMS API');

      const none = await oms(sim);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const forged = await oms(sim, `${access_token.slice(0, -2)}xx`);
      expect(forged.status).toBe(401);
      expect(forged.headers.get('www-authenticate')).toMatch(/^Bearer/);

      sim.revokeAllTokens();
      expect((await oms(sim, access_token)).status).toBe(401);
    });

    it('refuses an expired access token', async () => {
      const sim = await start();
      const { access_token } = await accessToken(sim);
      clock += 299_000;
      expect((await oms(sim, access_token)).status).toBe(200);
      clock += 1_000;
      expect((await oms(sim, access_token)).status).toBe(401);
    });
  });

  describe('faults, counts and control API', () => {
    it('forces RFC 6749 errors on the token endpoint and plain failures on the OMS API', async () => {
      const sim = await start();
      sim.faults.set('token', { status: 503, retryAfter: '3', count: 1 });
      const res = await cc(sim);
      expect(res.headers.get('retry-after')).toBe('3');
      await expectOAuthError(res, 503, 'temporarily_unavailable');
      const { access_token } = await accessToken(sim);

      sim.faults.set('oms', { status: 500 });
      expect((await oms(sim, access_token)).status).toBe(500);
      sim.faults.set('oms', { drop: true });
      await expect(oms(sim, access_token)).rejects.toThrow('fetch failed');
      sim.faults.clear();
      expect((await oms(sim, access_token)).status).toBe(200);
      expect(sim.counts()).toEqual({ token: 2, oms: 3 });
      expect(sim.grantCounts()).toEqual({ client_credentials: 2, refresh_token: 0 });
      sim.resetCounts();
      expect(sim.counts()).toEqual({ token: 0, oms: 0 });
    });

    it('counts the requests open at once, per endpoint (how a client spreads its requests)', async () => {
      const sim = await start();
      sim.faults.set('token', { latencyMs: 60_000 });
      const giveUp = new AbortController();
      const pending = Array.from({ length: 5 }, () =>
        fetch(sim.tokenUrl, { method: 'POST', signal: giveUp.signal }).catch(() => undefined),
      );
      await eventually(async () => {
        if (sim.counts().token < 5) throw new Error('not all arrived yet');
      });
      expect(sim.inFlight()).toEqual({ current: { token: 5, oms: 0 }, peak: { token: 5, oms: 0 } });
      giveUp.abort();
      await Promise.all(pending);
      await eventually(async () => {
        if (sim.inFlight().current.token > 0) throw new Error('still open');
      });
      const control = await (await fetch(`${sim.url}/__sim/in-flight`)).json();
      expect(control).toEqual({ current: { token: 0, oms: 0 }, peak: { token: 5, oms: 0 } });
      sim.resetCounts();
      expect(sim.inFlight().peak.token).toBe(0);
    });

    it('is repeatable under a seeded errorRate', async () => {
      const run = async () => {
        const sim = await start({ random: seededRandom(7) });
        sim.faults.set('*', { status: 503, errorRate: 0.5 });
        const statuses: number[] = [];
        for (let i = 0; i < 20; i += 1) statuses.push((await cc(sim)).status);
        return statuses;
      };
      const first = await run();
      expect(await run()).toEqual(first);
      expect(new Set(first)).toEqual(new Set([200, 503]));
    });

    it('is driven over HTTP by another process', async () => {
      const sim = await start({
        clients: [{ clientId: 'oms-client', clientSecret: 'oms-secret', refreshTokens: true }],
      });
      const control = (method: string, path: string, body?: unknown) =>
        fetch(`${sim.url}/__sim/${path}`, {
          method,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });

      const tokens = await accessToken(sim);
      expect((await control('POST', 'revoke-refresh')).status).toBe(204);
      const refused = await post(sim, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token ?? '',
        client_id: 'oms-client',
        client_secret: 'oms-secret',
      });
      await expectOAuthError(refused, 400, 'invalid_grant');
      expect(await (await control('GET', 'grant-counts')).json()).toEqual({
        client_credentials: 1,
        refresh_token: 1,
      });

      expect((await control('POST', 'revoke')).status).toBe(204);
      expect((await oms(sim, tokens.access_token)).status).toBe(401);

      expect((await control('POST', 'rotate', { clientId: 'oms-client', clientSecret: 'new' })).status).toBe(
        204,
      );
      await expectOAuthError(await cc(sim), 401, 'invalid_client');
      expect((await cc(sim, 'oms-client', 'new')).status).toBe(200);

      expect((await control('PUT', 'clients', { clientId: 'bench', clientSecret: 'b' })).status).toBe(204);
      expect((await cc(sim, 'bench', 'b')).status).toBe(200);

      expect((await control('PUT', 'faults/oms', { status: 502, count: 1 })).status).toBe(204);
      expect((await oms(sim)).status).toBe(502);
      expect(await (await control('GET', 'counts')).json()).toEqual({ token: 5, oms: 2 });
      expect((await control('DELETE', 'faults')).status).toBe(204);
      expect(await (await control('GET', 'tokens')).json()).toEqual(sim.tokensIssued());
    });

    it('refuses bad control input with 400 naming the field, and changes nothing', async () => {
      const sim = await start();
      const control = (method: string, path: string, body: unknown) =>
        fetch(`${sim.url}/__sim/${path}`, { method, body: JSON.stringify(body) });
      const refusals = [
        await control('PUT', 'faults/token', { status: 503, retryAfterSeconds: 1 }),
        await control('PUT', 'faults/token', { errorRate: 2 }),
        await control('PUT', 'clients', { clientId: 'x', clientSecret: '' }),
        await control('POST', 'rotate', { clientId: 'oms-client' }),
      ];
      expect(refusals.map((response) => response.status)).toEqual([400, 400, 400, 400]);
      const messages = await Promise.all(
        refusals.map(async (r) => ((await r.json()) as { message: string }).message),
      );
      expect(messages[0]).toMatch(/unknown field.*"retryAfterSeconds"/);
      expect(messages[1]).toMatch(/errorRate/);
      expect(messages[2]).toMatch(/clientSecret/);
      expect(messages[3]).toMatch(/clientSecret/);
      expect(sim.faults.list()).toEqual({});
      expect((await cc(sim)).status).toBe(200);
    });
  });
});
