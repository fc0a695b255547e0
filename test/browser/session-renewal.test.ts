import { mkdirSync } from 'node:fs';
import type { ElementHandle, Page } from 'playwright-core';
import {
  bundleInstalledHelper,
  type InstalledEmbedPackage,
  packAndInstallEmbedPackage,
} from '../support/embed-package';
import {
  Browsers,
  frameOf,
  frameStatus,
  type LocalStack,
  openAnalytics,
  type StackUrls,
  signIn,
  startLocalStack,
  stopLocalStack,
  ticketsIssued,
} from './support';

/**
 * Sessions that renew themselves, in Chromium against `npm start`, with the helper installed from
 * the packed tarball: the demo page passes its ticket function as `getTicket`. A vendor session
 * ends in another tab; the embedded app says so with the vendor sample's `401Error` message when a
 * page of it next loads (the simulator checks its session on each page, so the person moving on
 * inside the dashboard is a reload of the frame's page). Time in the page is frozen with
 * Playwright's clock where the once-a-minute rule is at stake; no assertion reads the wall clock.
 */
let stack: LocalStack | undefined;
let urls: StackUrls;
let installed: InstalledEmbedPackage | undefined;
let browsers: Browsers;

const SETTLED = ['embedded', 'frame-signed-out', 'redeem-failed', 'wrong-user'];

/** Ends the vendor session as a person does in another tab of the same browser. */
async function signOutInAnotherTab(page: Page): Promise<void> {
  const tab = await page.context().newPage();
  await tab.goto(`${urls.astrato}/auth/proxy/0/sign_out`);
  await tab.getByTestId('signed-out-page').waitFor();
  await tab.close();
  const cookies = await page.context().cookies(urls.astrato);
  expect(cookies.map((cookie) => cookie.name)).not.toContain('astrato_session');
}

/** The person moves on inside the dashboard: the embedded app loads its next page. */
async function moveOnInDashboard(iframe: ElementHandle): Promise<void> {
  const frame = await iframe.contentFrame();
  if (!frame) throw new Error('the dashboard iframe has no frame');
  // Not awaited as a navigation: the helper may replace this one with its own reload.
  await frame.evaluate(() => {
    setTimeout(() => window.location.reload(), 0);
  });
}

/** Records every status the demo page shows from now on, for the whole sequence. */
async function recordStatuses(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const line = document.querySelector('[data-testid=frame-status]');
    const seen: string[] = [];
    Object.assign(window, { seenStatuses: seen });
    new MutationObserver(() => {
      const status = line?.getAttribute('data-status') ?? '';
      if (seen.at(-1) !== status) seen.push(status);
    }).observe(line as Element, { attributes: true, attributeFilter: ['data-status'] });
  });
  return () => page.evaluate(() => (window as unknown as { seenStatuses: string[] }).seenStatuses);
}

/** Waits until the status line shows `status` with a message containing `text`. */
async function waitForStatus(page: Page, status: string, text: string): Promise<string> {
  await page.waitForFunction(
    ([wanted, words]) => {
      const line = document.querySelector('[data-testid=frame-status]');
      return line?.getAttribute('data-status') === wanted && (line.textContent ?? '').includes(words);
    },
    [status, text] as const,
  );
  return (await page.getByTestId('frame-status').textContent()) ?? '';
}

async function theOnlyFrame(page: Page): Promise<ElementHandle> {
  expect(await page.locator('[data-testid=analytics] iframe').count()).toBe(1);
  const iframe = await page.$('[data-testid=analytics] iframe');
  if (!iframe) throw new Error('no dashboard iframe');
  return iframe;
}

beforeAll(async () => {
  mkdirSync('test-results', { recursive: true });
  installed = packAndInstallEmbedPackage();
  browsers = new Browsers(bundleInstalledHelper(installed.projectDir));
  stack = await startLocalStack();
  ({ urls } = stack);
}, 120_000);

afterAll(async () => {
  await browsers?.close();
  installed?.remove();
  await stopLocalStack(stack);
}, 30_000);

describe('an embedded session that ends renews itself, once', () => {
  /** One person's browser through the whole sequence, its page clock frozen at `start`. */
  let page: Page;
  const start = new Date('2026-12-01T09:00:00Z').getTime();

  it('signed out in another tab: the same frame comes back signed in as the same person', async () => {
    page = await browsers.open();
    await page.clock.setFixedTime(start);
    await signIn(page, urls.demo, 'frank@example.com', ['sales']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const iframe = await theOnlyFrame(page);
    const statuses = await recordStatuses(page);
    const tickets = await ticketsIssued(urls.astrato);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => frame === page.mainFrame() && navigations.push(frame.url()));

    await signOutInAnotherTab(page);
    await moveOnInDashboard(iframe);
    expect(await waitForStatus(page, 'embedded', 'signed in again')).toBe(
      'The analytics session had ended: signed in again as frank@example.com.',
    );
    expect(await statuses()).toEqual(['renewing', 'embedded']);
    // One fresh ticket, redeemed into the same iframe element; the page itself never moved.
    expect(await ticketsIssued(urls.astrato)).toBe(tickets + 1);
    expect(await theOnlyFrame(page)).toBeTruthy();
    expect(await iframe.evaluate((element) => element.isConnected)).toBe(true);
    expect(navigations).toEqual([]);
    await frameOf(page).getByTestId('dashboard').waitFor();
    expect(await frameOf(page).getByTestId('email').textContent()).toBe('frank@example.com');
    expect(await frameOf(page).getByTestId('group').allTextContents()).toEqual(['sales']);
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(false);
    await page.screenshot({ path: 'test-results/renewal-signed-in-again.png', fullPage: true });
  });

  it('a session that ends again is not renewed a second time for the same embed', async () => {
    const iframe = await theOnlyFrame(page);
    const tickets = await ticketsIssued(urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(iframe);
    expect(await waitForStatus(page, 'frame-signed-out', 'renewed once')).toBe(
      'The analytics session ended again after it was renewed once: open the dashboard again.',
    );
    expect(await ticketsIssued(urls.astrato)).toBe(tickets);
    await frameOf(page).getByTestId('signed-out').waitFor();
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(true);
  });

  it('nor within a minute of the last renewal, even for a new embed; a minute later it is', async () => {
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    let tickets = await ticketsIssued(urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(await theOnlyFrame(page));
    await waitForStatus(page, 'frame-signed-out', 'within a minute of the last renewal');
    expect(await ticketsIssued(urls.astrato)).toBe(tickets);

    await page.clock.setFixedTime(start + 60_000);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    tickets = await ticketsIssued(urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(await theOnlyFrame(page));
    await waitForStatus(page, 'embedded', 'signed in again as frank@example.com');
    expect(await ticketsIssued(urls.astrato)).toBe(tickets + 1);
    expect(await frameOf(page).getByTestId('email').textContent()).toBe('frank@example.com');
  });
});

describe('a renewal that cannot happen is reported, never repeated', () => {
  it('the broker refuses the second ticket: the state says so, and the frame stays the one frame', async () => {
    const page = await browsers.open();
    await signIn(page, urls.demo, 'grace@example.com', ['support']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const iframe = await theOnlyFrame(page);
    const tickets = await ticketsIssued(urls.astrato);
    // The vendor refuses the next ticket request, so the broker refuses the page's backend.
    const fault = await fetch(`${urls.astrato}/__sim/faults/setup`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 403, count: 1 }),
    });
    expect(fault.status).toBeLessThan(300);
    try {
      await signOutInAnotherTab(page);
      await moveOnInDashboard(iframe);
      const message = await waitForStatus(page, 'frame-signed-out', 'could not be renewed');
      expect(message).toContain('Analytics unavailable');
      expect(message).toContain('upstream_rejected, 502');
      expect(await page.getByTestId('frame-status').getAttribute('data-failure')).toBe('no-ticket');
      const fallback = page.getByTestId('cookie-fallback');
      expect(await fallback.isVisible()).toBe(true);
      expect(await fallback.textContent()).toContain('could not be renewed');
      expect(await ticketsIssued(urls.astrato)).toBe(tickets);
      expect(await iframe.evaluate((element) => element.isConnected)).toBe(true);
      await theOnlyFrame(page);
      await frameOf(page).getByTestId('signed-out').waitFor();
      await page.screenshot({ path: 'test-results/renewal-refused.png', fullPage: true });
    } finally {
      await fetch(`${urls.astrato}/__sim/faults/setup`, { method: 'DELETE' });
    }
  });

  it('a frame that was never signed in (third-party cookies blocked) is reported, not renewed', async () => {
    const page = await browsers.open();
    await signIn(page, urls.demoCrossSite, 'heidi@example.com', ['sales']);
    const tickets = await ticketsIssued(urls.astrato);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('frame-signed-out');
    expect(await page.getByTestId('frame-status').getAttribute('data-failure')).toBe('frame-not-signed-in');
    // The dashboard keeps saying so: still no second ticket, no reload loop.
    await moveOnInDashboard(await theOnlyFrame(page));
    await frameOf(page).getByTestId('signed-out').waitFor();
    expect(await frameStatus(page)).toBe('frame-signed-out');
    expect(await ticketsIssued(urls.astrato)).toBe(tickets + 1);
  });
});
