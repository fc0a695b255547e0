import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type RunningChild, startChild } from '../support/child-process';

/**
 * The demo flow in a real browser (Debian's Chromium, headless, driven by playwright-core), against
 * the local stack started as a user starts it. Asserts what the person sees.
 */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((path) => existsSync(path));
// Flags that keep Chromium off the network on these machines (../shared/TOOLCHAIN.md).
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

let stack: RunningChild;
let urls: { demo: string; demoCrossSite: string; astrato: string };
let devKey: string;
const profiles: string[] = [];
const contexts: BrowserContext[] = [];
/** Everything the browser received, to prove the caller key never reached it. */
const received: string[] = [];

function field(banner: string, label: string): string {
  const match = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(banner);
  if (!match?.[1]) throw new Error(`no "${label}" in the banner`);
  return match[1].replace(/\/$/, '');
}

async function browser(): Promise<Page> {
  if (!CHROMIUM) throw new Error('unreachable');
  const profile = mkdtempSync(join(tmpdir(), 'tb-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  contexts.push(context);
  context.on('response', (response) => {
    response
      .text()
      .then((text) => received.push(text))
      .catch(() => undefined);
  });
  return context.pages()[0] ?? context.newPage();
}

async function signIn(page: Page, base: string, email: string, groups: string[]): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByTestId('signin-email').fill(email);
  for (const group of groups) await page.getByTestId(`group-${group}`).check();
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('open-analytics').waitFor();
}

async function openAnalytics(page: Page): Promise<void> {
  await page.getByTestId('open-analytics').click();
  await page.waitForURL(/\/analytics$/);
}

beforeAll(async () => {
  if (!CHROMIUM) {
    throw new Error(
      'Chromium is not installed: the browser test needs the Debian package: apt-get update && apt-get install -y chromium',
    );
  }
  mkdirSync('test-results', { recursive: true });
  stack = await startChild(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts'],
    /(Press Ctrl-C to stop\.)/,
    {
      env: { ...process.env, TICKET_BROKER_PORTS: 'ephemeral' },
      timeoutMs: 60_000,
    },
  );
  const banner = stack.output();
  urls = {
    demo: field(banner, 'Demo SaaS page'),
    demoCrossSite: field(banner, 'Demo, cross-site'),
    astrato: field(banner, 'Astrato sim'),
  };
  devKey = /^\s+(tb_\S+)$/m.exec(banner)?.[1] ?? '';
}, 90_000);

afterAll(async () => {
  await Promise.allSettled(contexts.map((context) => context.close()));
  for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
  if (stack) {
    const exited = new Promise((resolve) => stack.process.once('exit', resolve));
    stack.process.kill('SIGINT');
    await exited;
  }
});

describe('demo SaaS page in Chromium', () => {
  it('same site: the embedded dashboard shows the signed-in email and groups', async () => {
    const page = await browser();
    await signIn(page, urls.demo, 'ada@example.com', ['sales', 'support']);
    await openAnalytics(page);
    const frame = page.frameLocator('[data-testid=analytics-frame]');
    await frame.getByTestId('email').waitFor({ timeout: 10_000 });
    expect(await frame.getByTestId('email').textContent()).toBe('ada@example.com');
    expect(await frame.getByTestId('group').allTextContents()).toEqual(['sales', 'support']);
    await page.getByText('Signed in to analytics as ada@example.com').waitFor();
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(false);
    await page.screenshot({ path: 'test-results/demo-same-site.png', fullPage: true });
  });

  it('a second user gets their own session', async () => {
    const page = await browser();
    await signIn(page, urls.demo, 'bob@example.com', ['finance']);
    await openAnalytics(page);
    const frame = page.frameLocator('[data-testid=analytics-frame]');
    await frame.getByTestId('email').waitFor({ timeout: 10_000 });
    expect(await frame.getByTestId('email').textContent()).toBe('bob@example.com');
    expect(await frame.getByTestId('group').allTextContents()).toEqual(['finance']);
  });

  it('cross site, default settings: the frame is not signed in, the fallback is offered and works', async () => {
    const page = await browser();
    await signIn(page, urls.demoCrossSite, 'carol@example.com', ['sales']);
    await openAnalytics(page);
    expect(page.url().startsWith(urls.demoCrossSite)).toBe(true);
    await page.getByTestId('cookie-fallback').waitFor({ state: 'visible', timeout: 10_000 });
    // Not a silent blank frame: the frame itself says it has no session, and the page explains why.
    await page.frameLocator('[data-testid=analytics-frame]').getByTestId('signed-out').waitFor();
    expect(await page.getByTestId('cookie-fallback').textContent()).toContain('blocks third-party cookies');
    await page.screenshot({ path: 'test-results/demo-cross-site-fallback.png', fullPage: true });

    await page.getByTestId('open-dashboard-top-level').click();
    await page.waitForURL(`${urls.astrato}/dashboard`);
    expect(await page.getByTestId('email').textContent()).toBe('carol@example.com');
    expect(await page.getByTestId('group').allTextContents()).toEqual(['sales']);
    await page.screenshot({ path: 'test-results/demo-cross-site-top-level.png', fullPage: true });
  });

  it('a refused request shows the broker’s error to the person, and nothing navigates', async () => {
    const page = await browser();
    await signIn(page, urls.demo, 'dave@example.com', ['sales', 'admins']);
    await page.getByTestId('open-analytics').click();
    const error = page.getByTestId('broker-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toContain('groupIds not allowed for this caller: "admins"');
    expect(await error.textContent()).toContain('forbidden');
    expect(new URL(page.url()).pathname).toBe('/');
    await page.screenshot({ path: 'test-results/demo-refused.png', fullPage: true });
  });

  it('the caller key never reached the browser', async () => {
    expect(devKey).toMatch(/^tb_/);
    expect(received.length).toBeGreaterThan(10);
    expect(received.filter((text) => text.includes(devKey))).toEqual([]);
  });
});
