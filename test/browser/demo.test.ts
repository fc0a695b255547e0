import type { Page } from 'playwright-core';
import {
  frameOf,
  openAnalytics,
  setEmbeddingOrigins as setOrigins,
  signIn,
  useBrowserWorld,
} from './support';

/**
 * The demo flow in a real browser (Debian's Chromium, headless, driven by playwright-core), against
 * the local stack started as a user starts it (`npm start`'s entry point as a child process). The
 * page runs the browser helper as a SaaS team gets it: packed with `npm pack`, installed from the
 * tarball, bundled from node_modules. Asserts what the person sees. Screenshots go to
 * `test-results/`.
 */

/** Everything the browser received (URLs, headers, bodies), to prove the caller key never reached it. */
const received: string[] = [];
const pendingReads: Promise<unknown>[] = [];
// Every page's responses are recorded as they come, to search them for the caller key at the end.
const world = useBrowserWorld((context) =>
  context.on('response', (response) => {
    received.push(response.url());
    pendingReads.push(
      response
        .allHeaders()
        .then((headers) => received.push(JSON.stringify(headers)))
        .catch(() => undefined),
      // Redirects have no body to read: that rejection is expected.
      response
        .text()
        .then((text) => received.push(text))
        .catch(() => undefined),
    );
  }),
);
/** The first user's browser, which the second user then uses after signing out. */
let sharedPage: Page | undefined;

const browser = () => world.browsers.open();
const setEmbeddingOrigins = (origins: readonly string[]) => setOrigins(world.urls.astrato, origins);

/** What the simulator's dashboard shows for a session cookie value, asked from outside the browser. */
async function dashboardFor(cookieValue: string): Promise<string> {
  return (
    await fetch(`${world.urls.astrato}/dashboard`, { headers: { cookie: `astrato_session=${cookieValue}` } })
  ).text();
}

describe('demo SaaS page in Chromium', () => {
  it('same site: the helper redeems with a credentialed fetch and the frame shows the user and groups', async () => {
    const page = await browser();
    sharedPage = page;
    await signIn(page, world.urls.demo, 'ada@example.com', ['sales', 'support']);
    const navigations = await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
    expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('embedded');
    // No top-level navigation: the page never left, the vendor was reached by fetch and the frame.
    expect(navigations).toEqual([]);
    expect(page.url()).toBe(`${world.urls.demo}/`);
    const frame = frameOf(page);
    await frame.getByTestId('dashboard').waitFor();
    expect(await frame.getByTestId('email').textContent()).toBe('ada@example.com');
    expect(await frame.getByTestId('group').allTextContents()).toEqual(['sales', 'support']);
    expect(await page.getByTestId('frame-status').textContent()).toBe(
      'Signed in to analytics as ada@example.com.',
    );
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(false);
    await page.screenshot({ path: 'test-results/demo-same-site.png', fullPage: true });
  });

  it('sign-out ends the vendor session; the second user in the same browser sees only himself', async () => {
    const page = sharedPage ?? (await browser());
    if (!sharedPage) {
      await signIn(page, world.urls.demo, 'ada@example.com', ['sales']);
      await openAnalytics(page, ['embedded']);
    }
    const before = (await page.context().cookies(world.urls.astrato)).find(
      (c) => c.name === 'astrato_session',
    );
    expect(before?.value).toBeTruthy();
    expect(await dashboardFor(before?.value ?? '')).toContain('ada@example.com');

    await page.getByTestId('sign-out').click();
    await page.getByTestId('signin-email').waitFor();
    // The vendor's session is over: the cookie is gone from the browser and dead at the vendor.
    const after = (await page.context().cookies(world.urls.astrato)).find(
      (c) => c.name === 'astrato_session',
    );
    expect(after).toBeUndefined();
    const dead = await dashboardFor(before?.value ?? '');
    expect(dead).toContain('data-testid="signed-out"');
    expect(dead).not.toContain('ada@example.com');

    await signIn(page, world.urls.demo, 'bob@example.com', ['finance']);
    await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
    expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('embedded');
    const frame = frameOf(page);
    await frame.getByTestId('dashboard').waitFor();
    expect(await frame.getByTestId('email').textContent()).toBe('bob@example.com');
    expect(await frame.getByTestId('group').allTextContents()).toEqual(['finance']);
    expect(await frame.getByTestId('dashboard').textContent()).not.toContain('ada@example.com');
    await page.screenshot({ path: 'test-results/demo-second-user.png', fullPage: true });
  });

  it('cross site, default settings: the helper reports the frame not signed in; the new-tab fallback shows the right user', async () => {
    const page = await browser();
    await signIn(page, world.urls.demoCrossSite, 'carol@example.com', ['sales']);
    // 'embedded' can come first here and last only a moment: when the frame's "not signed in"
    // follows its load event, the helper renews once before it reports (session-renewal.test.ts).
    const navigations = await openAnalytics(page, ['frame-signed-out', 'redeem-failed']);
    expect(navigations).toEqual([]);
    // The credentialed fetch worked (CORS allowed this origin) but Chromium kept the third-party cookie.
    expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('frame-signed-out');
    expect((await page.context().cookies(world.urls.astrato)).map((cookie) => cookie.name)).not.toContain(
      'astrato_session',
    );
    await frameOf(page).getByTestId('signed-out').waitFor();
    const fallback = page.getByTestId('cookie-fallback');
    expect(await fallback.isVisible()).toBe(true);
    expect(await fallback.textContent()).toContain('third-party cookies');
    await page.screenshot({ path: 'test-results/demo-cross-site-fallback.png', fullPage: true });

    const [tab] = await Promise.all([
      page.context().waitForEvent('page'),
      page.getByTestId('open-dashboard-top-level').click(),
    ]);
    await tab.waitForURL(`${world.urls.astrato}/dashboard`);
    await tab.getByTestId('dashboard').waitFor();
    expect(await tab.getByTestId('email').textContent()).toBe('carol@example.com');
    expect(await tab.getByTestId('group').allTextContents()).toEqual(['sales']);
    // The new tab has no handle on the SaaS page.
    expect(await tab.evaluate(() => window.opener)).toBeNull();
    await tab.screenshot({ path: 'test-results/demo-cross-site-top-level.png', fullPage: true });

    // Signing out of the SaaS page ends the session in that tab too, where its cookie is first-party.
    const signOutUrl = `${world.urls.astrato}/auth/proxy/0/sign_out`;
    const signedOutTab = new Promise<Page>((resolve) => {
      const check = (candidate: Page) => {
        if (candidate.url() === signOutUrl) resolve(candidate);
      };
      tab.on('framenavigated', (frame) => frame === tab.mainFrame() && check(tab));
      page.context().on('page', (opened) =>
        opened.waitForURL(signOutUrl).then(
          () => check(opened),
          () => undefined,
        ),
      );
    });
    await page.getByTestId('sign-out').click();
    await page.getByTestId('signin-email').waitFor();
    const where = await signedOutTab;
    await where.getByTestId('signed-out-page').waitFor();
    await where.goto(`${world.urls.astrato}/dashboard`);
    await where.getByTestId('signed-out').waitFor();
    process.stderr.write(`fallback sign-out ran in ${where === tab ? 'the fallback tab' : 'a new tab'}\n`);
  });

  it('a redemption the vendor refuses by CORS is reported, and no frame is shown', async () => {
    await setEmbeddingOrigins([]);
    try {
      const page = await browser();
      await signIn(page, world.urls.demo, 'erin@example.com', ['support']);
      await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
      expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('redeem-failed');
      expect(await page.getByTestId('frame-status').textContent()).toContain('CORS');
      expect(await page.locator('[data-testid=analytics] iframe').count()).toBe(0);
      expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(true);
      await page.screenshot({ path: 'test-results/demo-cors-refused.png', fullPage: true });
    } finally {
      await setEmbeddingOrigins([world.urls.demo, world.urls.demoCrossSite]);
    }
  });

  it('a refused request shows the broker’s error to the person, and nothing reaches the vendor', async () => {
    const page = await browser();
    await signIn(page, world.urls.demo, 'dave@example.com', ['sales', 'admins']);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url());
    });
    const astratoRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(world.urls.astrato)) astratoRequests.push(request.url());
    });
    await page.getByTestId('open-analytics').click();
    const error = page.getByTestId('broker-error');
    await error.waitFor({ state: 'visible' });
    const text = (await error.textContent()) ?? '';
    expect(text).toContain('groupIds not allowed for this caller: "admins"');
    expect(text).toContain('forbidden');
    expect(text).toContain('403');
    expect(navigations).toEqual([]);
    expect(astratoRequests).toEqual([]);
    expect(await page.locator('[data-testid=analytics] iframe').count()).toBe(0);
    expect(page.url()).toBe(`${world.urls.demo}/`);
    await page.screenshot({ path: 'test-results/demo-refused.png', fullPage: true });
  });

  it('every page ran the helper installed from the packed tarball', () => {
    // One request per home page shown to a signed-in person (five above), at least.
    expect(world.browsers.helperServed).toBeGreaterThanOrEqual(5);
  });

  it('the caller key never reached the browser', async () => {
    expect(world.devKey.length).toBeGreaterThanOrEqual(20);
    // Pages as they stand now, besides every response (URL, headers, body) seen so far.
    for (const context of world.browsers.contexts) {
      for (const page of context.pages()) {
        for (const frame of page.frames()) received.push(await frame.content().catch(() => ''));
      }
      received.push(JSON.stringify(await context.cookies()));
    }
    await Promise.allSettled(pendingReads);
    expect(received.length).toBeGreaterThan(40);
    expect(received.some((text) => text.includes('ada@example.com'))).toBe(true); // the net works
    const leaks = received
      .filter((text) => text.includes(world.devKey))
      .map((text) => text.slice(Math.max(0, text.indexOf(world.devKey) - 120), text.indexOf(world.devKey)));
    expect(leaks).toEqual([]);
  });
});
