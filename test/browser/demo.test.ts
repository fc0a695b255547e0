import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type RunningChild, startChild } from '../support/child-process';

/**
 * The demo flow in a real browser (Debian's Chromium, headless, driven by playwright-core), against
 * the local stack started as a user starts it (`npm start`'s entry point as a child process).
 * Asserts what the person sees. Screenshots go to `test-results/`.
 */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((path) => existsSync(path));
const INSTALL_HINT =
  'Chromium is not installed. The browser test needs the Debian package `chromium`: ' +
  'apt-get update && apt-get install -y chromium';
// Flags that keep Chromium off the network: no background services, updates, sync or QUIC, and
// every host name but the loopback ones unresolvable.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

let stack: RunningChild | undefined;
let urls: { demo: string; demoCrossSite: string; astrato: string; api: string };
let devKey = '';
const profiles: string[] = [];
const contexts: BrowserContext[] = [];
/** Everything the browser received (URLs, headers, bodies), to prove the caller key never reached it. */
const received: string[] = [];
const pendingReads: Promise<unknown>[] = [];
/** The first user's browser, which the second user then uses after signing out. */
let sharedPage: Page | undefined;

function field(banner: string, label: string): string {
  const match = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(banner);
  if (!match?.[1]) throw new Error(`no "${label}" in the banner:\n${banner}`);
  return match[1].replace(/\/$/, '');
}

/** A fresh headless Chromium with its own new profile (default settings: third-party cookies blocked). */
async function browser(): Promise<Page> {
  if (!CHROMIUM) throw new Error(INSTALL_HINT);
  const profile = mkdtempSync(join(tmpdir(), 'tb-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  contexts.push(context);
  context.setDefaultTimeout(10_000);
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
  });
  return context.pages()[0] ?? context.newPage();
}

async function signIn(page: Page, base: string, email: string, groups: readonly string[]): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByTestId('signin-email').fill(email);
  for (const group of groups) await page.getByTestId(`group-${group}`).check();
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('open-analytics').waitFor();
  expect(await page.getByTestId('signed-in-as').textContent()).toBe(email);
}

/**
 * "Open analytics": backend ticket, credentialed redemption by the helper, then the frame. Returns
 * the top-level navigations seen meanwhile (there must be none) once the helper has settled.
 */
async function openAnalytics(page: Page, settled: readonly string[]): Promise<string[]> {
  const navigations: string[] = [];
  const onNavigated = (frame: import('playwright-core').Frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  };
  page.on('framenavigated', onNavigated);
  await page.getByTestId('open-analytics').click();
  await page.waitForFunction(
    (statuses) =>
      statuses.includes(
        document.querySelector('[data-testid=frame-status]')?.getAttribute('data-status') ?? '',
      ),
    settled,
  );
  page.off('framenavigated', onNavigated);
  return navigations;
}

const frameOf = (page: Page) => page.frameLocator('[data-testid=analytics] iframe');

/** Sets the simulator's embedding origins through its control API (another process runs it). */
async function setEmbeddingOrigins(origins: readonly string[]): Promise<void> {
  const response = await fetch(`${urls.astrato}/__sim/embedding-origins`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(origins),
  });
  expect(response.status).toBe(204);
}

/** What the simulator's dashboard shows for a session cookie value, asked from outside the browser. */
async function dashboardFor(cookieValue: string): Promise<string> {
  return (
    await fetch(`${urls.astrato}/dashboard`, { headers: { cookie: `astrato_session=${cookieValue}` } })
  ).text();
}

/** True when something accepts TCP connections on the URL's port. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  // Fail (not skip) without Chromium: CI installs it, and a developer should learn how.
  if (!CHROMIUM) throw new Error(INSTALL_HINT);
  mkdirSync('test-results', { recursive: true });
  stack = await startChild(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts'],
    /Press Ctrl-C to stop\./,
    {
      env: { ...process.env, TICKET_BROKER_PORTS: 'ephemeral' },
      timeoutMs: 45_000,
    },
  );
  const banner = stack.output();
  urls = {
    demo: field(banner, 'Demo SaaS page'),
    demoCrossSite: field(banner, 'Demo, cross-site'),
    astrato: field(banner, 'Astrato sim'),
    api: field(banner, 'Broker API'),
  };
  devKey = /Development caller key[^\n]*\n\s+(\S+)/.exec(banner)?.[1] ?? '';
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(contexts.map((context) => context.close()));
  for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
  const child = stack?.process;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT'); // Ctrl-C, as a person stops it
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref()),
    ]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`the local stack did not stop on SIGINT; output:\n${stack?.output()}`);
    }
    expect(code).toBe(0);
    if (urls) {
      for (const url of [urls.demo, urls.api, urls.astrato]) expect(await listening(url)).toBe(false);
    }
  }
}, 30_000);

describe('demo SaaS page in Chromium', () => {
  it('same site: the helper redeems with a credentialed fetch and the frame shows the user and groups', async () => {
    const page = await browser();
    sharedPage = page;
    await signIn(page, urls.demo, 'ada@example.com', ['sales', 'support']);
    const navigations = await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
    expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('embedded');
    // No top-level navigation: the page never left, the vendor was reached by fetch and the frame.
    expect(navigations).toEqual([]);
    expect(page.url()).toBe(`${urls.demo}/`);
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
      await signIn(page, urls.demo, 'ada@example.com', ['sales']);
      await openAnalytics(page, ['embedded']);
    }
    const before = (await page.context().cookies(urls.astrato)).find((c) => c.name === 'astrato_session');
    expect(before?.value).toBeTruthy();
    expect(await dashboardFor(before?.value ?? '')).toContain('ada@example.com');

    await page.getByTestId('sign-out').click();
    await page.getByTestId('signin-email').waitFor();
    // The vendor's session is over: the cookie is gone from the browser and dead at the vendor.
    const after = (await page.context().cookies(urls.astrato)).find((c) => c.name === 'astrato_session');
    expect(after).toBeUndefined();
    const dead = await dashboardFor(before?.value ?? '');
    expect(dead).toContain('data-testid="signed-out"');
    expect(dead).not.toContain('ada@example.com');

    await signIn(page, urls.demo, 'bob@example.com', ['finance']);
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
    await signIn(page, urls.demoCrossSite, 'carol@example.com', ['sales']);
    const navigations = await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
    expect(navigations).toEqual([]);
    // The credentialed fetch worked (CORS allowed this origin) but Chromium kept the third-party cookie.
    expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('frame-signed-out');
    expect((await page.context().cookies(urls.astrato)).map((cookie) => cookie.name)).not.toContain(
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
    await tab.waitForURL(`${urls.astrato}/dashboard`);
    await tab.getByTestId('dashboard').waitFor();
    expect(await tab.getByTestId('email').textContent()).toBe('carol@example.com');
    expect(await tab.getByTestId('group').allTextContents()).toEqual(['sales']);
    // The new tab has no handle on the SaaS page.
    expect(await tab.evaluate(() => window.opener)).toBeNull();
    await tab.screenshot({ path: 'test-results/demo-cross-site-top-level.png', fullPage: true });

    // Signing out of the SaaS page ends the session in that tab too, where its cookie is first-party.
    const signOutUrl = `${urls.astrato}/auth/proxy/0/sign_out`;
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
    await where.goto(`${urls.astrato}/dashboard`);
    await where.getByTestId('signed-out').waitFor();
    process.stderr.write(`fallback sign-out ran in ${where === tab ? 'the fallback tab' : 'a new tab'}\n`);
  });

  it('a redemption the vendor refuses by CORS is reported, and no frame is shown', async () => {
    await setEmbeddingOrigins([]);
    try {
      const page = await browser();
      await signIn(page, urls.demo, 'erin@example.com', ['support']);
      await openAnalytics(page, ['embedded', 'frame-signed-out', 'redeem-failed']);
      expect(await page.getByTestId('frame-status').getAttribute('data-status')).toBe('redeem-failed');
      expect(await page.getByTestId('frame-status').textContent()).toContain('CORS');
      expect(await page.locator('[data-testid=analytics] iframe').count()).toBe(0);
      expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(true);
      await page.screenshot({ path: 'test-results/demo-cors-refused.png', fullPage: true });
    } finally {
      await setEmbeddingOrigins([urls.demo, urls.demoCrossSite]);
    }
  });

  it('a refused request shows the broker’s error to the person, and nothing reaches the vendor', async () => {
    const page = await browser();
    await signIn(page, urls.demo, 'dave@example.com', ['sales', 'admins']);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url());
    });
    const astratoRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(urls.astrato)) astratoRequests.push(request.url());
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
    expect(page.url()).toBe(`${urls.demo}/`);
    await page.screenshot({ path: 'test-results/demo-refused.png', fullPage: true });
  });

  it('the caller key never reached the browser', async () => {
    expect(devKey.length).toBeGreaterThanOrEqual(20);
    // Pages as they stand now, besides every response (URL, headers, body) seen so far.
    for (const context of contexts) {
      for (const page of context.pages()) {
        for (const frame of page.frames()) received.push(await frame.content().catch(() => ''));
      }
      received.push(JSON.stringify(await context.cookies()));
    }
    await Promise.allSettled(pendingReads);
    expect(received.length).toBeGreaterThan(40);
    expect(received.some((text) => text.includes('ada@example.com'))).toBe(true); // the net works
    const leaks = received
      .filter((text) => text.includes(devKey))
      .map((text) => text.slice(Math.max(0, text.indexOf(devKey) - 120), text.indexOf(devKey)));
    expect(leaks).toEqual([]);
  });
});
