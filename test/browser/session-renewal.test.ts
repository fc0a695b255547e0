import type { ElementHandle, Page } from 'playwright-core';
import { frameOf, frameStatus, openAnalytics, signIn, ticketsIssued, useBrowserWorld } from './support';

/**
 * Sessions that renew themselves, in Chromium against `npm start`, with the helper installed from
 * the packed tarball: the demo page passes its ticket function as `getTicket`. A vendor session
 * ends in another tab; the embedded app says so with the vendor sample's `401Error` message when a
 * page of it next loads (the simulator checks its session on each page, so the person moving on
 * inside the dashboard is a reload of the frame's page). Time in the page is frozen with
 * Playwright's clock where the once-a-minute rule is at stake; no assertion reads the wall clock.
 */
const world = useBrowserWorld();

const SETTLED = ['embedded', 'frame-signed-out', 'redeem-failed', 'wrong-user'];

/** Ends the vendor session as a person does in another tab of the same browser. */
async function signOutInAnotherTab(page: Page): Promise<void> {
  const tab = await page.context().newPage();
  await tab.goto(`${world.urls.astrato}/auth/proxy/0/sign_out`);
  await tab.getByTestId('signed-out-page').waitFor();
  await tab.close();
  const cookies = await page.context().cookies(world.urls.astrato);
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

/** Holds requests to `url` until `release()`; `held` resolves once one is waiting. */
async function holdRequests(page: Page, url: string) {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let noteHeld: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    noteHeld = resolve;
  });
  await page.route(url, async (route) => {
    noteHeld();
    await released;
    await route.continue();
  });
  return { held, release };
}

async function theOnlyFrame(page: Page): Promise<ElementHandle> {
  expect(await page.locator('[data-testid=analytics] iframe').count()).toBe(1);
  const iframe = await page.$('[data-testid=analytics] iframe');
  if (!iframe) throw new Error('no dashboard iframe');
  return iframe;
}

describe('an embedded session that ends renews itself, once', () => {
  /** One person's browser through the whole sequence, its page clock frozen at `start`. */
  let page: Page;
  const start = new Date('2026-12-01T09:00:00Z').getTime();

  it('signed out in another tab: the same frame comes back signed in as the same person', async () => {
    page = await world.browsers.open();
    await page.clock.setFixedTime(start);
    await signIn(page, world.urls.demo, 'frank@example.com', ['sales']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const iframe = await theOnlyFrame(page);
    const statuses = await recordStatuses(page);
    const tickets = await ticketsIssued(world.urls.astrato);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => frame === page.mainFrame() && navigations.push(frame.url()));

    await signOutInAnotherTab(page);
    await moveOnInDashboard(iframe);
    expect(await waitForStatus(page, 'embedded', 'again')).toBe(
      'Signed in to analytics again as frank@example.com.',
    );
    expect(await statuses()).toEqual(['renewing', 'embedded']);
    // One fresh ticket, redeemed into the same iframe element; the page itself never moved.
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1);
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
    const tickets = await ticketsIssued(world.urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(iframe);
    // After this embed's renewal reloaded the frame, the helper cannot tell a session that ended
    // again from a renewal that did not hold: either way signing in again did not help.
    expect(await waitForStatus(page, 'frame-signed-out', 'did not help')).toBe(
      'The dashboard is not signed in: this browser withholds the analytics cookie from the embedded frame (third-party cookies blocked), or the session ended. Signing in again did not help (it was signed in again once already since it was opened).',
    );
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets);
    await frameOf(page).getByTestId('signed-out').waitFor();
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(true);
  });

  it('nor within a minute of the last renewal, even for a new embed; a minute later it is', async () => {
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    let tickets = await ticketsIssued(world.urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(await theOnlyFrame(page));
    await waitForStatus(page, 'frame-signed-out', 'signed in again less than a minute ago');
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets);

    await page.clock.setFixedTime(start + 60_000);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    tickets = await ticketsIssued(world.urls.astrato);
    await signOutInAnotherTab(page);
    await moveOnInDashboard(await theOnlyFrame(page));
    await waitForStatus(page, 'embedded', 'Signed in to analytics again as frank@example.com.');
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1);
    expect(await frameOf(page).getByTestId('email').textContent()).toBe('frank@example.com');
  });
});

describe("what the ended session's page says while it is being renewed counts for nothing", () => {
  it('it keeps posting "not signed in" until it is gone: the renewal still ends signed in', async () => {
    const page = await world.browsers.open();
    await signIn(page, world.urls.demo, 'judy@example.com', ['sales']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const iframe = await theOnlyFrame(page);
    const frame = await iframe.contentFrame();
    if (!frame) throw new Error('the dashboard iframe has no frame');
    const statuses = await recordStatuses(page);
    const tickets = await ticketsIssued(world.urls.astrato);
    // Every 401Error the page receives from the frame, counted by the page itself.
    await page.evaluate(() => {
      const seen = { count: 0 };
      Object.assign(window, { notSignedInSeen: seen });
      window.addEventListener('message', (event) => {
        if ((event.data as { message?: unknown } | null)?.message === '401Error') seen.count += 1;
      });
    });
    // The renewal's reload of the dashboard is held: the ended session's page has all the time it
    // needs to speak while the renewed one is on its way.
    const reload = await holdRequests(page, `${world.urls.astrato}/dashboard`);
    await signOutInAnotherTab(page);
    // The app finds out on its next request and says so, again and again, for as long as its page
    // lives (the vendor's sample debounces this message: it comes in bursts).
    await frame.evaluate(() => {
      const post = () => window.parent.postMessage({ type: 'Astrato', message: '401Error' }, '*');
      Object.assign(window, { postingNotSignedIn: setInterval(post, 20) });
      post();
    });
    await reload.held;
    // Whatever the helper did with the frame before asking for the dashboard again: if the ended
    // session's page is still there, its messages reach the page before the reload goes on.
    if (await frame.evaluate(() => 'postingNotSignedIn' in window)) {
      const before = await page.evaluate(
        () => (window as unknown as { notSignedInSeen: { count: number } }).notSignedInSeen.count,
      );
      await page.waitForFunction(
        (count) =>
          (window as unknown as { notSignedInSeen: { count: number } }).notSignedInSeen.count >= count + 2,
        before,
      );
    }
    reload.release();
    expect(await waitForStatus(page, 'embedded', 'again')).toBe(
      'Signed in to analytics again as judy@example.com.',
    );
    await frameOf(page).getByTestId('dashboard').waitFor();
    expect(await frameOf(page).getByTestId('email').textContent()).toBe('judy@example.com');
    expect(await frameStatus(page)).toBe('embedded');
    expect(await statuses()).toEqual(['renewing', 'embedded']);
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1);
    expect(await iframe.evaluate((element) => element.isConnected)).toBe(true);
    await theOnlyFrame(page);
    await page.close();
  });
});

describe('a renewal that never finishes', () => {
  it("the page's backend never answers: after 60 s (the page's clock) frame-signed-out, and a late ticket changes nothing", async () => {
    const page = await world.browsers.open();
    // The page's timers are Playwright's: the minute passes without waiting for it.
    const installed = new Date('2026-12-02T09:00:00Z').getTime();
    await page.clock.install({ time: installed });
    await signIn(page, world.urls.demo, 'ken@example.com', ['sales']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const frame = await (await theOnlyFrame(page)).contentFrame();
    if (!frame) throw new Error('the dashboard iframe has no frame');
    const statuses = await recordStatuses(page);
    const tickets = await ticketsIssued(world.urls.astrato);
    const redemptions: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/auth/proxy/oem/ticket/')) redemptions.push(request.url());
    });
    // The page's backend hangs on the renewal's ticket.
    const backend = await holdRequests(page, `${world.urls.demo}/api/embed-ticket`);
    await signOutInAnotherTab(page);
    // From now on the page's time moves only when the test moves it.
    await page.clock.pauseAt(installed + 3_600_000);
    // The app finds out on its next request and says so.
    await frame.evaluate(() => window.parent.postMessage({ type: 'Astrato', message: '401Error' }, '*'));
    await backend.held;
    await waitForStatus(page, 'renewing', 'signing in again');

    await page.clock.runFor(59_999);
    expect(await frameStatus(page)).toBe('renewing');
    await page.clock.runFor(1);
    expect(await waitForStatus(page, 'frame-signed-out', 'could not be renewed')).toBe(
      'The dashboard is not signed in and could not be renewed: no ticket for the dashboard within 60 s.',
    );
    expect(await page.getByTestId('frame-status').getAttribute('data-failure')).toBe('no-ticket');
    expect(await page.getByTestId('cookie-fallback').isVisible()).toBe(true);
    expect(await statuses()).toEqual(['renewing', 'frame-signed-out']);

    // The backend answers at last: the helper has moved on, nothing is redeemed or reloaded.
    const answered = page.waitForResponse(`${world.urls.demo}/api/embed-ticket`);
    backend.release();
    expect((await answered).status()).toBe(200);
    // One more round trip of the page's, after which the late ticket has long been handed over.
    await page.evaluate(() => fetch(window.location.href).then((response) => response.text()));
    expect(await statuses()).toEqual(['renewing', 'frame-signed-out']);
    expect(redemptions).toEqual([]);
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1);
    await theOnlyFrame(page);
    await page.close();
  });
});

describe('a renewal that cannot happen is reported, never repeated', () => {
  it('the broker refuses the second ticket: the state says so, and the frame stays the one frame', async () => {
    const page = await world.browsers.open();
    await signIn(page, world.urls.demo, 'grace@example.com', ['support']);
    await openAnalytics(page, SETTLED);
    expect(await frameStatus(page)).toBe('embedded');
    const iframe = await theOnlyFrame(page);
    const tickets = await ticketsIssued(world.urls.astrato);
    // The vendor refuses the next ticket request, so the broker refuses the page's backend.
    const fault = await fetch(`${world.urls.astrato}/__sim/faults/setup`, {
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
      expect(await ticketsIssued(world.urls.astrato)).toBe(tickets);
      expect(await iframe.evaluate((element) => element.isConnected)).toBe(true);
      await theOnlyFrame(page);
      await frameOf(page).getByTestId('signed-out').waitFor();
      await page.screenshot({ path: 'test-results/renewal-refused.png', fullPage: true });
    } finally {
      await fetch(`${world.urls.astrato}/__sim/faults/setup`, { method: 'DELETE' });
    }
  });

  it('a frame the browser never lets sign in (third-party cookies blocked) is renewed at most once, then reported', async () => {
    const page = await world.browsers.open();
    await signIn(page, world.urls.demoCrossSite, 'heidi@example.com', ['sales']);
    const tickets = await ticketsIssued(world.urls.astrato);
    const statuses = await recordStatuses(page);
    await openAnalytics(page, ['frame-signed-out', 'redeem-failed']);
    expect(await page.getByTestId('frame-status').getAttribute('data-failure')).toBe('frame-not-signed-in');
    // Whether the frame's "not signed in" comes before its load event is Chromium's business (the
    // frame runs in another process). Before it, the helper knows it is the first load's verdict and
    // renews nothing; after it, the helper cannot tell it from an ended session and renews once.
    const seen = await statuses();
    const renewals = seen.filter((status) => status === 'renewing').length;
    expect(renewals).toBeLessThanOrEqual(1);
    expect(seen.at(-1)).toBe('frame-signed-out');
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1 + renewals);
    process.stderr.write(`cross-site, cookie withheld: ${seen.join(' -> ')}\n`);

    // The dashboard keeps saying so: nothing more happens, no ticket, no reload loop.
    const iframe = await theOnlyFrame(page);
    const frame = await iframe.contentFrame();
    const reloaded = page.waitForEvent('framenavigated', (navigated) => navigated === frame);
    await moveOnInDashboard(iframe);
    await reloaded;
    await frameOf(page).getByTestId('signed-out').waitFor();
    expect(await frameStatus(page)).toBe('frame-signed-out');
    expect(await statuses()).toEqual(seen);
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 1 + renewals);
  });

  it('an app that says so only once it has loaded, cookie withheld: one renewal, then reported', async () => {
    const page = await world.browsers.open();
    // The simulator's app says "not signed in" while its page loads; an app that first loads and
    // then asks its server says it after the load event. Only the timing of its own script moves.
    await page.context().route(`${world.urls.astrato}/dashboard`, async (route) => {
      const response = await route.fetch();
      const body = (await response.text()).replace(
        /<script>([^<]*)<\/script>/,
        "<script>addEventListener('load',()=>setTimeout(()=>{$1},0));</script>",
      );
      await route.fulfill({ response, body });
    });
    await signIn(page, world.urls.demoCrossSite, 'ivan@example.com', ['sales']);
    const tickets = await ticketsIssued(world.urls.astrato);
    const statuses = await recordStatuses(page);
    await openAnalytics(page, ['frame-signed-out', 'redeem-failed']);
    expect(await statuses()).toEqual(['redeeming', 'embedded', 'renewing', 'embedded', 'frame-signed-out']);
    // The reloaded frame still says it is not signed in (after its load): the renewal did not help.
    expect(await page.getByTestId('frame-status').textContent()).toContain(
      'third-party cookies blocked), or the session ended. Signing in again did not help (it was signed in again once already',
    );
    expect(await ticketsIssued(world.urls.astrato)).toBe(tickets + 2);
    await theOnlyFrame(page);
  });
});
