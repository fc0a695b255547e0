import {
  type AstratoSimulator,
  type AstratoSimulatorOptions,
  startAstratoSimulator,
} from '../../local/astrato-simulator';
import { seededRandom } from '../../local/faults';

const CREDS = { clientId: 'astrato-client', clientSecret: 'astrato-secret' };
const SET_COOKIE = /^astrato_session=([A-Za-z0-9_-]{43}); Path=\/; HttpOnly; Secure; SameSite=None$/;

describe('Astrato OEM simulator', () => {
  const sims: AstratoSimulator[] = [];
  let clock = Date.now();

  const start = async (opts: AstratoSimulatorOptions = {}) => {
    const sim = await startAstratoSimulator({ now: () => clock, ...opts });
    sims.push(sim);
    return sim;
  };

  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.stop()));
    clock = Date.now();
  });

  const requestToken = (sim: AstratoSimulator, body: unknown = CREDS) =>
    fetch(`${sim.url}/auth/proxy/m2m/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const token = async (sim: AstratoSimulator): Promise<string> => {
    const res = await requestToken(sim);
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };

  const setup = (sim: AstratoSimulator, accessToken: string | undefined, body: unknown) =>
    fetch(`${sim.url}/oem/setup`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` }),
      },
      body: JSON.stringify(body),
    });

  const ticket = async (
    sim: AstratoSimulator,
    body: unknown = { email: 'ada@example.com' },
  ): Promise<string> => {
    const res = await setup(sim, await token(sim), body);
    expect(res.status).toBe(200);
    return ((await res.json()) as { ticket: string }).ticket;
  };

  const redeem = (sim: AstratoSimulator, path: string) => fetch(`${sim.url}${path}`, { redirect: 'manual' });

  describe('m2m token', () => {
    it.each([
      ['epoch-ms', (expiresIn: unknown) => expect(expiresIn).toBe(clock + 600_000)],
      ['epoch-s', (expiresIn: unknown) => expect(expiresIn).toBe(Math.floor((clock + 600_000) / 1000))],
      ['duration-s', (expiresIn: unknown) => expect(expiresIn).toBe(600)],
      ['absent', (expiresIn: unknown) => expect(expiresIn).toBeUndefined()],
    ] as const)('answers expires_in as %s', async (format, check) => {
      const sim = await start({ expiresInFormat: format });
      const res = await requestToken(sim);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      const body = (await res.json()) as Record<string, unknown>;
      expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect('expires_in' in body).toBe(format !== 'absent');
      check(body.expires_in);
      expect(sim.tokensIssued()).toEqual([body.access_token]);
    });

    it('defaults to an absolute epoch in milliseconds, as the vendor answers', async () => {
      const sim = await start();
      const body = (await (await requestToken(sim)).json()) as { expires_in: number };
      expect(body.expires_in).toBe(clock + 600_000);
    });

    it('refuses wrong credentials with 401 and malformed requests with 400', async () => {
      const sim = await start();
      const wrong = await requestToken(sim, { ...CREDS, clientSecret: 'nope' });
      expect(wrong.status).toBe(401);
      expect(await wrong.json()).toEqual({ message: 'Unauthorized' });
      expect((await requestToken(sim, 'not json')).status).toBe(400);
      expect((await requestToken(sim, { clientId: 'astrato-client' })).status).toBe(400);
      expect(sim.tokensIssued()).toEqual([]);
    });

    it('refuses the old secret after rotation while its tokens keep working', async () => {
      const sim = await start();
      const before = await token(sim);
      sim.rotateClientSecret('astrato-client', 'rotated');
      expect((await requestToken(sim)).status).toBe(401);
      expect((await requestToken(sim, { ...CREDS, clientSecret: 'rotated' })).status).toBe(200);
      expect((await setup(sim, before, { email: 'a@example.com' })).status).toBe(200);
      expect(() => sim.rotateClientSecret('unknown', 'x')).toThrow('unknown client');
    });
  });

  describe('oem/setup', () => {
    it('creates the user and answers a uuid ticket', async () => {
      const sim = await start();
      const res = await setup(sim, await token(sim), {
        email: 'ada@example.com',
        name: 'Ada',
        groupIds: ['g1'],
      });
      expect(res.status).toBe(200);
      const { ticket: id } = (await res.json()) as { ticket: string };
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(sim.ticketsIssued()).toEqual([id]);
      expect(sim.users()).toEqual([{ email: 'ada@example.com', name: 'Ada' }]);
      await ticket(sim, { email: 'ada@example.com' });
      expect(sim.users()).toHaveLength(1);
    });

    it('refuses a missing, unknown, revoked or expired bearer token with 401', async () => {
      const sim = await start();
      const body = { email: 'ada@example.com' };
      expect((await setup(sim, undefined, body)).status).toBe(401);
      expect((await setup(sim, 'made-up', body)).status).toBe(401);

      const revoked = await token(sim);
      sim.revokeAllTokens();
      const refused = await setup(sim, revoked, body);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({ message: 'Unauthorized' });

      const expiring = await token(sim);
      clock += 599_000;
      expect((await setup(sim, expiring, body)).status).toBe(200);
      clock += 1_000;
      expect((await setup(sim, expiring, body)).status).toBe(401);
      expect(sim.users()).toEqual([{ email: 'ada@example.com' }]);
    });

    it('accepts groupIds and groupNames, each or both', async () => {
      const sim = await start();
      const accessToken = await token(sim);
      for (const body of [
        { email: 'a@example.com', groupIds: ['g1'] },
        { email: 'a@example.com', groupNames: ['Sales EMEA'] },
        { email: 'a@example.com', groupIds: ['g1'], groupNames: ['Sales EMEA'] },
      ]) {
        expect((await setup(sim, accessToken, body)).status).toBe(200);
      }
    });

    it('refuses a body without a valid email, or with bad groupIds or groupNames, with 400 and a message', async () => {
      const sim = await start();
      const accessToken = await token(sim);
      for (const body of [
        {},
        { email: 'not-an-email' },
        { email: 'a@example.com', groupIds: 'g1' },
        { email: 'a@example.com', groupNames: [1] },
        { email: 'a@example.com', name: 3 },
      ]) {
        const res = await setup(sim, accessToken, body);
        expect(res.status).toBe(400);
        expect(typeof ((await res.json()) as { message: unknown }).message).toBe('string');
      }
      expect(sim.users()).toEqual([]);
    });
  });

  describe('ticket redemption, sign-out and dashboard', () => {
    const APP = 'https://app.saas.example';
    const cookieOf = (res: Response) => (res.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    const dashboardHtml = async (sim: AstratoSimulator, cookie?: string) =>
      (await fetch(`${sim.url}/dashboard`, { headers: cookie ? { cookie } : {} })).text();
    const fetchForm = (sim: AstratoSimulator, id: string, origin?: string) =>
      fetch(`${sim.url}/auth/proxy/oem/ticket/${id}?embed`, { headers: origin ? { origin } : {} });

    it('?embed, from an embedding origin: cookie, the user as JSON, credentialed CORS for that origin', async () => {
      const sim = await start({ embeddingOrigins: [APP] });
      const id = await ticket(sim, {
        email: 'ada@example.com',
        name: 'Ada',
        groupIds: ['sales'],
        groupNames: ['Sales EMEA'],
      });
      const res = await fetchForm(sim, id, APP);
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe(APP);
      expect(res.headers.get('access-control-allow-credentials')).toBe('true');
      expect(res.headers.get('vary')).toBe('Origin');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.getSetCookie()).toHaveLength(1);
      expect(res.headers.getSetCookie()[0]).toMatch(SET_COOKIE);
      expect(await res.json()).toEqual({
        email: 'ada@example.com',
        name: 'Ada',
        groupIds: ['sales'],
        groupNames: ['Sales EMEA'],
      });
      const html = await dashboardHtml(sim, cookieOf(res));
      expect(html).toContain('Signed in as <span data-testid="email">ada@example.com</span>');
      expect(html).toContain('<li data-testid="group">sales</li>');
      expect(html).toContain('<li data-testid="group-name">Sales EMEA</li>');
    });

    it('?embed from another origin, or with no Origin: no CORS header at all (the browser withholds the answer)', async () => {
      const sim = await start({ embeddingOrigins: [APP] });
      for (const origin of ['https://evil.example', 'https://app.saas.example:8443', 'null', undefined]) {
        const res = await fetchForm(sim, await ticket(sim), origin);
        expect(res.status).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBeNull();
        expect(res.headers.get('access-control-allow-credentials')).toBeNull();
        expect(res.headers.get('vary')).toBe('Origin');
      }
    });

    it('answers the CORS preflight for embedding origins only', async () => {
      const sim = await start({ embeddingOrigins: [APP] });
      const preflight = (origin: string) =>
        fetch(`${sim.url}/auth/proxy/oem/ticket/any?embed`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'GET',
            'access-control-request-headers': 'x-requested-with',
          },
        });
      const allowed = await preflight(APP);
      expect(allowed.status).toBe(204);
      expect(
        Object.fromEntries([...allowed.headers].filter(([name]) => name.startsWith('access-control-'))),
      ).toEqual({
        'access-control-allow-origin': APP,
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': 'x-requested-with',
        'access-control-max-age': '600',
      });
      expect(allowed.headers.get('vary')).toBe('Origin');
      const other = await preflight('https://evil.example');
      expect(other.status).toBe(204);
      expect([...other.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
      // Embedding origins can change at run time (npm start learns the demo's ports late).
      sim.setEmbeddingOrigins(['https://evil.example']);
      expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBe(
        'https://evil.example',
      );
      expect((await preflight(APP)).headers.get('access-control-allow-origin')).toBeNull();
    });

    it('/embed, top-level: cookie and a redirect into the app UI, never back to the caller', async () => {
      const sim = await start({ embeddingOrigins: [APP] });
      const id = await ticket(sim, {
        email: 'ada@example.com',
        name: 'Ada <Lovelace>',
        groupIds: ['<b>ops</b>'],
      });
      // A returnTo (or anything else) is ignored: the vendor documents no way back.
      const res = await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed?returnTo=${encodeURIComponent(APP)}`);
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/dashboard');
      expect(res.headers.getSetCookie()).toHaveLength(1);
      expect(res.headers.getSetCookie()[0]).toMatch(SET_COOKIE);
      const html = await dashboardHtml(sim, cookieOf(res));
      expect(html).toContain('data-testid="dashboard"');
      expect(html).toContain('<li data-testid="group">&#60;b&#62;ops&#60;/b&#62;</li>');
      expect(html).toContain('Ada &#60;Lovelace&#62;');
      expect(html).not.toContain('<b>ops</b>');
      expect(html).not.toMatch(/(src|href)=/);
      // A signed-in dashboard posts nothing to its parent (the vendor's sample knows only 401Error).
      expect(html).not.toContain('<script>');
    });

    it('accepts a ticket once on either form, and not after 60 s', async () => {
      const sim = await start({ embeddingOrigins: [APP] });
      const id = await ticket(sim);
      expect((await fetchForm(sim, id, APP)).status).toBe(200);
      const again = await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed`);
      expect(again.status).toBe(401);
      expect(again.headers.get('set-cookie')).toBeNull();
      expect(await again.text()).toContain('This ticket is invalid or has expired.');
      const viaFetch = await fetchForm(sim, id, APP);
      expect(viaFetch.status).toBe(401);
      expect(viaFetch.headers.get('set-cookie')).toBeNull();
      // The page can read the refusal: CORS headers are on errors too.
      expect(viaFetch.headers.get('access-control-allow-origin')).toBe(APP);

      const late = await ticket(sim);
      clock += 59_999;
      const inTime = await ticket(sim);
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${inTime}/embed`)).status).toBe(302);
      clock += 1;
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${late}/embed`)).status).toBe(401);
      expect((await redeem(sim, '/auth/proxy/oem/ticket/unknown/embed')).status).toBe(401);
      // A template missing /embed and ?embed is a configuration mistake: not found.
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim)}`)).status).toBe(404);
    });

    it('a session lives 7 days by default', async () => {
      const sim = await start();
      const cookie = cookieOf(await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim)}/embed`));
      clock += 7 * 24 * 3600 * 1000 - 1;
      expect(await dashboardHtml(sim, cookie)).toContain('data-testid="dashboard"');
      clock += 1;
      expect(await dashboardHtml(sim, cookie)).toContain('data-testid="signed-out"');
      expect(sim.activeSessions()).toBe(0);
    });

    it('sign_out ends the session and clears the cookie; the dashboard then says not signed in', async () => {
      const sim = await start();
      const cookie = cookieOf(await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim)}/embed`));
      const other = cookieOf(await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim)}/embed`));
      expect(sim.activeSessions()).toBe(2);
      const res = await fetch(`${sim.url}/auth/proxy/0/sign_out`, { headers: { cookie } });
      expect(res.status).toBe(200);
      expect(res.headers.getSetCookie()).toEqual([
        'astrato_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None',
      ]);
      // The old cookie value no longer signs anyone in, even if a browser kept it.
      expect(await dashboardHtml(sim, cookie)).toContain('data-testid="signed-out"');
      expect(await dashboardHtml(sim, other)).toContain('data-testid="dashboard"');
      expect(sim.activeSessions()).toBe(1);
      // Without a session it still answers (a link may be followed twice).
      expect((await fetch(`${sim.url}/auth/proxy/0/sign_out`)).status).toBe(200);
      expect(sim.counts().signOut).toBe(2);
    });

    it('a user given neither groupIds nor groupNames has no permissions, and the dashboard says so', async () => {
      const sim = await start();
      for (const body of [
        { email: 'nogroup@example.com' },
        { email: 'nogroup@example.com', groupIds: [], groupNames: [] },
      ]) {
        const cookie = cookieOf(await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim, body)}/embed`));
        const html = await dashboardHtml(sim, cookie);
        expect(html).toContain('data-testid="no-permissions"');
        expect(html).not.toContain('data-testid="group');
      }
    });

    it('shows "Not signed in" and posts the vendor sample\'s 401Error message to the parent', async () => {
      const sim = await start();
      for (const cookie of [undefined, 'astrato_session=forged']) {
        const html = await dashboardHtml(sim, cookie);
        expect(html).toContain('data-testid="signed-out"');
        expect(html).toContain('{"type":"Astrato","message":"401Error"}');
        expect(html).toContain('window.parent!==window');
      }
    });

    it('keeps a hostile email out of the page markup', async () => {
      const sim = await start();
      const id = await ticket(sim, { email: '</script><script>alert(1)</script>@example.com' });
      const cookie = cookieOf(await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed`));
      const html = await dashboardHtml(sim, cookie);
      expect(html).not.toContain('<script>');
      expect(html).toContain('&#60;/script&#62;');
    });

    it('lets another process set the embedding origins', async () => {
      const sim = await start();
      const put = (body: string) =>
        fetch(`${sim.url}/__sim/embedding-origins`, {
          method: 'PUT',
          body,
          headers: { 'content-type': 'application/json' },
        });
      expect((await put(JSON.stringify([APP]))).status).toBe(204);
      expect((await fetchForm(sim, await ticket(sim), APP)).headers.get('access-control-allow-origin')).toBe(
        APP,
      );
      expect((await put('{"a":1}')).status).toBe(400);
    });
  });

  describe('faults', () => {
    it('adds latency to the next request only when count is 1', async () => {
      const sim = await start();
      // An hour: the first request is certainly still held when the second one is answered. The
      // order of the two answers is the proof, no clock is read.
      sim.faults.set('token', { latencyMs: 3_600_000, count: 1 });
      let firstAnswered = false;
      const first = requestToken(sim).finally(() => {
        firstAnswered = true;
      });
      while (sim.counts().token < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(sim.faults.list()).toEqual({}); // used up by the first request
      expect((await requestToken(sim)).status).toBe(200);
      expect(firstAnswered).toBe(false);
      await sim.stop();
      await expect(first).rejects.toThrow();
    });

    it('forces a status with Retry-After and a plausible body, or a raw body', async () => {
      const sim = await start();
      sim.faults.set('token', { status: 503, retryAfter: '2' });
      const res = await requestToken(sim);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toEqual({ message: 'Service Unavailable' });

      sim.faults.set('token', { body: '{"access_token":', contentType: 'text/html' });
      const broken = await requestToken(sim);
      expect(broken.status).toBe(200);
      expect(broken.headers.get('content-type')).toBe('text/html');
      expect(await broken.text()).toBe('{"access_token":');
      expect(sim.tokensIssued()).toEqual([]);

      sim.faults.clear('token');
      expect((await requestToken(sim)).status).toBe(200);
    });

    it('drops the connection: fetch rejects', async () => {
      const sim = await start();
      sim.faults.set('setup', { drop: true });
      const accessToken = await token(sim);
      await expect(setup(sim, accessToken, { email: 'a@example.com' })).rejects.toThrow('fetch failed');
      expect(sim.counts().setup).toBe(1);
    });

    it('applies count faults to that many requests, counting faulted ones', async () => {
      const sim = await start();
      sim.faults.set('token', { status: 500, count: 2 });
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await requestToken(sim)).status);
      expect(statuses).toEqual([500, 500, 200]);
      expect(sim.counts()).toEqual({ token: 3, setup: 0, ticket: 0, signOut: 0, dashboard: 0 });
      sim.resetCounts();
      expect(sim.counts().token).toBe(0);
    });

    it('fails a seeded, repeatable share of requests with errorRate', async () => {
      const run = async () => {
        const sim = await start({ random: seededRandom(42) });
        sim.faults.set('token', { status: 503, errorRate: 0.3 });
        const statuses: number[] = [];
        for (let i = 0; i < 40; i += 1) statuses.push((await requestToken(sim)).status);
        return statuses;
      };
      const first = await run();
      expect(await run()).toEqual(first);
      const failures = first.filter((s) => s === 503).length;
      expect(failures).toBeGreaterThan(4);
      expect(failures).toBeLessThan(24);
      expect(first.filter((s) => s !== 503).every((s) => s === 200)).toBe(true);
    });

    it("applies a '*' fault to every endpoint unless one has its own", async () => {
      const sim = await start();
      sim.faults.set('*', { status: 502 });
      sim.faults.set('dashboard', { latencyMs: 1 });
      expect((await requestToken(sim)).status).toBe(502);
      const page = await fetch(`${sim.url}/dashboard`);
      expect(page.status).toBe(200);
      sim.faults.clear();
      expect((await requestToken(sim)).status).toBe(200);
    });

    it('refuses an invalid fault', async () => {
      const sim = await start();
      expect(() => sim.faults.set('token', { errorRate: 2 })).toThrow('errorRate');
      expect(() => sim.faults.set('nope' as 'token', { status: 500 })).toThrow('unknown endpoint');
    });

    it('stops promptly even with a request held by injected latency', async () => {
      const sim = await start();
      // Held for an hour: if stop() waited for it, the test would time out instead of passing.
      sim.faults.set('token', { latencyMs: 3_600_000 });
      const pending = requestToken(sim);
      while (sim.counts().token < 1) await new Promise((resolve) => setTimeout(resolve, 5));
      await sim.stop();
      await expect(pending).rejects.toThrow();
      await expect(fetch(`${sim.url}/dashboard`)).rejects.toThrow();
    });
  });

  describe('control API over HTTP', () => {
    it('drives faults, counts, revocation and rotation from another process', async () => {
      const sim = await start();
      const control = (method: string, path: string, body?: unknown) =>
        fetch(`${sim.url}/__sim/${path}`, {
          method,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });

      expect((await control('PUT', 'faults/token', { status: 429, retryAfter: '1', count: 1 })).status).toBe(
        204,
      );
      const limited = await requestToken(sim);
      expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '1']);
      expect((await control('PUT', 'faults/setup', { drop: 'yes' })).status).toBe(400);
      expect((await control('PUT', 'faults/nope', { status: 500 })).status).toBe(404);
      expect((await control('PUT', 'faults/*', { status: 500 })).status).toBe(204);
      expect((await requestToken(sim)).status).toBe(500);
      expect((await control('DELETE', 'faults')).status).toBe(204);

      const accessToken = await token(sim);
      expect(await (await control('GET', 'counts')).json()).toEqual({
        token: 3,
        setup: 0,
        ticket: 0,
        signOut: 0,
        dashboard: 0,
      });
      expect((await control('POST', 'counts/reset')).status).toBe(204);
      expect(sim.counts().token).toBe(0);

      expect((await control('POST', 'revoke')).status).toBe(204);
      expect((await setup(sim, accessToken, { email: 'a@example.com' })).status).toBe(401);

      expect(
        (await control('POST', 'rotate', { clientId: 'astrato-client', clientSecret: 'new' })).status,
      ).toBe(204);
      expect((await requestToken(sim)).status).toBe(401);
      expect((await requestToken(sim, { ...CREDS, clientSecret: 'new' })).status).toBe(200);
      expect((await control('POST', 'rotate', { clientId: 'ghost', clientSecret: 'x' })).status).toBe(404);
      expect(await (await control('GET', 'tokens')).json()).toEqual(sim.tokensIssued());
      // Control requests are not counted.
      expect(sim.counts()).toEqual({ token: 2, setup: 1, ticket: 0, signOut: 0, dashboard: 0 });
    });
  });
});
