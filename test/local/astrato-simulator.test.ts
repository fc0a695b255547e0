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

    it('refuses a body without a valid email, or with bad groupIds, with 400 and a message', async () => {
      const sim = await start();
      const accessToken = await token(sim);
      for (const body of [
        {},
        { email: 'not-an-email' },
        { email: 'a@example.com', groupIds: 'g1' },
        { email: 'a@example.com', name: 3 },
      ]) {
        const res = await setup(sim, accessToken, body);
        expect(res.status).toBe(400);
        expect(typeof ((await res.json()) as { message: unknown }).message).toBe('string');
      }
      expect(sim.users()).toEqual([]);
    });
  });

  describe('ticket redemption and dashboard', () => {
    it.each([
      ['/embed', (id: string) => `/auth/proxy/oem/ticket/${id}/embed`],
      ['?embed', (id: string) => `/auth/proxy/oem/ticket/${id}?embed`],
    ])('redeems a ticket on the %s form: session cookie, redirect to the dashboard', async (_form, path) => {
      const sim = await start();
      const id = await ticket(sim, {
        email: 'ada@example.com',
        name: 'Ada <Lovelace>',
        groupIds: ['sales', '<b>ops</b>'],
      });
      const res = await redeem(sim, path(id));
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe('/dashboard');
      const cookies = res.headers.getSetCookie();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatch(SET_COOKIE);

      const cookie = (cookies[0] ?? '').split(';')[0] ?? '';
      const page = await fetch(`${sim.url}/dashboard`, { headers: { cookie } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      expect(html).toContain('data-testid="dashboard"');
      expect(html).toContain('Signed in as <span data-testid="email">ada@example.com</span>');
      expect(html).toContain('<li data-testid="group">sales</li>');
      expect(html).toContain('<li data-testid="group">&#60;b&#62;ops&#60;/b&#62;</li>');
      expect(html).toContain('Ada &#60;Lovelace&#62;');
      expect(html).not.toContain('<b>ops</b>');
      expect(html).toContain('"signedIn":true');
      expect(html).toContain('window.parent!==window');
      expect(html).not.toMatch(/(src|href)=/);
    });

    it('redirects to returnTo when its origin is loopback or allowed, else to the dashboard', async () => {
      const sim = await start({ allowedReturnOrigins: ['https://app.example.com'] });
      const cases: Array<[string, string]> = [
        ['http://localhost:3000/embed?x=1', 'http://localhost:3000/embed?x=1'],
        ['http://127.0.0.1:9/back', 'http://127.0.0.1:9/back'],
        ['https://app.example.com/analytics', 'https://app.example.com/analytics'],
        ['https://evil.example.net/phish', '/dashboard'],
        ['javascript:alert(1)', '/dashboard'],
        ['not a url', '/dashboard'],
      ];
      for (const [returnTo, location] of cases) {
        const id = await ticket(sim);
        const res = await redeem(
          sim,
          `/auth/proxy/oem/ticket/${id}/embed?returnTo=${encodeURIComponent(returnTo)}`,
        );
        expect([returnTo, res.status, res.headers.get('location')]).toEqual([returnTo, 302, location]);
      }
      const id = await ticket(sim);
      const res = await redeem(
        sim,
        `/auth/proxy/oem/ticket/${id}?embed&returnTo=${encodeURIComponent('http://localhost:5173/')}`,
      );
      expect(res.headers.get('location')).toBe('http://localhost:5173/');
    });

    it('accepts a ticket once, and not after it expires', async () => {
      const sim = await start();
      const id = await ticket(sim);
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed`)).status).toBe(302);
      const again = await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed`);
      expect(again.status).toBe(401);
      expect(again.headers.get('set-cookie')).toBeNull();
      expect(await again.text()).toContain('This ticket is invalid or has expired.');

      const late = await ticket(sim);
      clock += 60_000;
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${late}/embed`)).status).toBe(401);
      expect((await redeem(sim, '/auth/proxy/oem/ticket/unknown/embed')).status).toBe(401);
      // A template missing /embed and ?embed is a configuration mistake: not found.
      expect((await redeem(sim, `/auth/proxy/oem/ticket/${await ticket(sim)}`)).status).toBe(404);
    });

    it('shows "Not signed in" and posts signedIn:false to the parent without a valid session', async () => {
      const sim = await start();
      const variants: Array<Record<string, string>> = [{}, { cookie: 'astrato_session=forged' }];
      for (const headers of variants) {
        const res = await fetch(`${sim.url}/dashboard`, { headers });
        expect(res.status).toBe(200);
        const html = await res.text();
        expect(html).toContain('data-testid="signed-out"');
        expect(html).toContain('Not signed in');
        expect(html).toContain('{"source":"astrato-simulator","signedIn":false,"email":null}');
      }
    });

    it('keeps a hostile email from breaking out of the inline script', async () => {
      const sim = await start();
      const id = await ticket(sim, { email: '</script><script>alert(1)</script>@example.com' });
      const res = await redeem(sim, `/auth/proxy/oem/ticket/${id}/embed`);
      const cookie = (res.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
      const html = await (await fetch(`${sim.url}/dashboard`, { headers: { cookie } })).text();
      expect(html.match(/<script>/g)).toHaveLength(1);
      expect(html).toContain('\\u003c/script>');
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
      expect(sim.counts()).toEqual({ token: 3, setup: 0, ticket: 0, dashboard: 0 });
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
      expect(sim.counts()).toEqual({ token: 2, setup: 1, ticket: 0, dashboard: 0 });
    });
  });
});
