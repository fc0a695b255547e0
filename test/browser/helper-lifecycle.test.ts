import type { Page } from 'playwright-core';
import { EMBED_HELPER_PATH } from '../../local/demo-app';
import type { createAstratoEmbed } from '../../web/astrato-embed';
import { useBrowserWorld } from './support';

/**
 * The browser helper's own lifecycle, in Chromium, as installed from the packed tarball: every step
 * that waits reports its outcome only if no later call came meanwhile, so a sign-out is never
 * undone by a redemption or a fallback tab that ends after it; and `destroy()` takes back what the
 * helper added to the page. The helper runs in a page of the demo's origin (which the Astrato
 * simulator allows for credentialed CORS); the test holds the vendor's answers where it needs a step
 * to be under way.
 */
const world = useBrowserWorld();

/** What the page records of its helper. */
interface Recorded {
  statuses: string[];
  frames: number;
  state: string;
}

/**
 * A page of the demo's origin with the installed helper's `createAstratoEmbed` on `window`, loaded
 * by a module script as a SaaS page loads it.
 */
async function pageOfDemoOrigin(): Promise<Page> {
  const page = await world.browsers.open();
  await page.goto(`${world.urls.demo}/`);
  await page.addScriptTag({
    type: 'module',
    content: `import { createAstratoEmbed } from ${JSON.stringify(EMBED_HELPER_PATH)}; window.createAstratoEmbed = createAstratoEmbed;`,
  });
  await page.waitForFunction(() => 'createAstratoEmbed' in window);
  return page;
}

/** The helper's factory as the page holds it. */
type Factory = typeof createAstratoEmbed;

/**
 * A page of the demo's origin with a helper of its own (`window.helper`) on a fresh container, every
 * state it reports recorded, and a ticket for a redemption the simulator will refuse (no such ticket).
 */
async function pageWithHelper(): Promise<Page> {
  const page = await pageOfDemoOrigin();
  await page.evaluate(
    ({ astrato }) => {
      const createAstratoEmbed = (window as unknown as { createAstratoEmbed: Factory }).createAstratoEmbed;
      const container = document.createElement('div');
      container.id = 'helper-container';
      document.body.append(container);
      const statuses: string[] = [];
      const helper = createAstratoEmbed({
        container,
        dashboardUrl: `${astrato}/dashboard`,
        onStateChange: (state: { status: string }) => statuses.push(state.status),
      });
      const ticket = {
        redeemUrl: `${astrato}/auth/proxy/oem/ticket/no-such-ticket?embed`,
        embedUrl: `${astrato}/auth/proxy/oem/ticket/no-such-ticket/embed`,
        signOutUrl: `${astrato}/auth/proxy/0/sign_out`,
      };
      Object.assign(window, { helper, statuses, ticket, container });
    },
    { astrato: world.urls.astrato },
  );
  return page;
}

const recorded = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as {
      statuses: string[];
      container: HTMLElement;
      helper: { state: { status: string } };
    };
    return {
      statuses: [...w.statuses],
      frames: w.container.querySelectorAll('iframe').length,
      state: w.helper.state.status,
    } satisfies Recorded;
  });

/** Holds requests to `pattern` until `release()`; `held` resolves once one is waiting. */
async function holdRequests(page: Page, pattern: string) {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let noteHeld: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    noteHeld = resolve;
  });
  await page.route(pattern, async (route) => {
    noteHeld();
    await released;
    await route.continue();
  });
  return { held, release };
}

it('a sign-out during a redemption ends signed out: the redemption that fails after it changes nothing', async () => {
  const page = await pageWithHelper();
  const redemption = await holdRequests(page, `${world.urls.astrato}/auth/proxy/oem/ticket/**`);
  await page.evaluate(() => {
    const w = window as unknown as { helper: { embed(ticket: unknown): Promise<unknown> }; ticket: unknown };
    Object.assign(window, { embedding: w.helper.embed(w.ticket) });
  });
  await redemption.held;
  await page.evaluate(() =>
    (window as unknown as { helper: { signOut(): Promise<unknown> } }).helper.signOut(),
  );
  expect((await recorded(page)).state).toBe('signed-out');
  // Now the vendor refuses the ticket (401): the redemption ends, after the sign-out.
  redemption.release();
  const ended = await page.evaluate(
    () => (window as unknown as { embedding: Promise<{ status: string }> }).embedding,
  );
  expect(ended.status).toBe('signed-out');
  expect(await recorded(page)).toEqual({
    statuses: ['redeeming', 'signed-out'],
    frames: 0,
    state: 'signed-out',
  });
  await page.close();
});

it('a sign-out while the fallback waits for its ticket ends signed out: the tab is closed, never sent to the dashboard', async () => {
  const page = await pageWithHelper();
  // The fallback from a click (popup blockers), its ticket from the page's backend: held here.
  await page.evaluate(() => {
    const w = window as unknown as {
      helper: { openTopLevel(next: () => Promise<unknown>): Promise<unknown> };
      ticket: unknown;
    };
    let giveTicket: (ticket: unknown) => void = () => {};
    const ticketGiven = new Promise((resolve) => {
      giveTicket = resolve;
    });
    const button = document.createElement('button');
    button.id = 'open-in-tab';
    button.textContent = 'Open in a new tab';
    button.onclick = () => {
      Object.assign(window, { opening: w.helper.openTopLevel(() => ticketGiven) });
    };
    document.body.append(button);
    Object.assign(window, { giveTicket });
  });
  const tabOpened = page.context().waitForEvent('page');
  await page.click('#open-in-tab');
  const tab = await tabOpened;
  const tabClosed = tab.waitForEvent('close');
  await page.evaluate(() =>
    (window as unknown as { helper: { signOut(): Promise<unknown> } }).helper.signOut(),
  );
  const navigations: string[] = [];
  tab.on('framenavigated', (frame) => navigations.push(frame.url()));
  // The backend answers only now, after the sign-out.
  const ended = await page.evaluate(async () => {
    const w = window as unknown as {
      giveTicket(ticket: unknown): void;
      ticket: unknown;
      opening: Promise<{ status: string }>;
    };
    w.giveTicket(w.ticket);
    return w.opening;
  });
  await tabClosed;
  expect(ended.status).toBe('signed-out');
  expect(navigations.filter((url) => url.includes('/auth/proxy/oem/ticket/'))).toEqual([]);
  expect((await recorded(page)).statuses).toEqual(['signed-out']);
  await page.close();
});

/** A real ticket from the broker, with the development key the banner prints. */
async function brokerTicket(email: string) {
  // The banner's broker address ends in /v1.
  const response = await fetch(`${world.urls.api}/tickets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${world.devKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email, groupIds: ['sales'] }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { redeemUrl: string; embedUrl: string; signOutUrl: string };
}

it('destroy() removes the frame and the message listener the helper added; the helper then refuses to start', async () => {
  const page = await pageOfDemoOrigin();
  const ticket = await brokerTicket('destroy@example.com');
  const outcome = await page.evaluate(
    async ({ astrato, ticket }) => {
      // Counts the page's `message` listeners as they are added and removed.
      const listeners = new Set<unknown>();
      const add = window.addEventListener.bind(window);
      const remove = window.removeEventListener.bind(window);
      window.addEventListener = ((type: string, listener: unknown, options?: unknown) => {
        if (type === 'message') listeners.add(listener);
        add(type, listener as EventListener, options as AddEventListenerOptions);
      }) as typeof window.addEventListener;
      window.removeEventListener = ((type: string, listener: unknown, options?: unknown) => {
        if (type === 'message') listeners.delete(listener);
        remove(type, listener as EventListener, options as EventListenerOptions);
      }) as typeof window.removeEventListener;
      const createAstratoEmbed = (window as unknown as { createAstratoEmbed: Factory }).createAstratoEmbed;
      const container = document.createElement('div');
      document.body.append(container);
      const helper = createAstratoEmbed({ container, dashboardUrl: `${astrato}/dashboard` });
      const embedded = (await helper.embed(ticket)).status;
      const alive = { listeners: listeners.size, frames: container.querySelectorAll('iframe').length };
      helper.destroy();
      const destroyed = { listeners: listeners.size, frames: container.querySelectorAll('iframe').length };
      const refused = await helper.embed(ticket).then(
        () => 'started',
        (error: Error) => error.message,
      );
      return { embedded, alive, destroyed, refused };
    },
    { astrato: world.urls.astrato, ticket },
  );
  expect(outcome).toEqual({
    embedded: 'embedded',
    alive: { listeners: 1, frames: 1 },
    destroyed: { listeners: 0, frames: 0 },
    refused: 'AstratoEmbed.embed: the helper was destroyed',
  });
  await page.close();
});

it.each(['signOut', 'destroy', 'embed'] as const)(
  'embed() resolves when %s() removes its frame before the frame loaded, instead of never',
  async (later) => {
    const page = await pageOfDemoOrigin();
    const first = await brokerTicket(`early-${later.toLowerCase()}@example.com`);
    const second = await brokerTicket(`next-${later.toLowerCase()}@example.com`);
    // The frame's document is held: the first embed's frame is there, not loaded.
    const load = await holdRequests(page, `${world.urls.astrato}/dashboard`);
    await page.evaluate(
      ({ astrato, first }) => {
        const createAstratoEmbed = (window as unknown as { createAstratoEmbed: Factory }).createAstratoEmbed;
        const container = document.createElement('div');
        document.body.append(container);
        const helper = createAstratoEmbed({ container, dashboardUrl: `${astrato}/dashboard` });
        Object.assign(window, { helper, container, embedding: helper.embed(first) });
      },
      { astrato: world.urls.astrato, first },
    );
    await load.held;
    const outcome = await page.evaluate(
      async ({ later, second }) => {
        const w = window as unknown as {
          helper: ReturnType<Factory>;
          container: HTMLElement;
          embedding: Promise<{ status: string; message: string }>;
        };
        const before = { ...w.helper.state };
        const framesBefore = w.container.querySelectorAll('iframe').length;
        if (later === 'destroy') w.helper.destroy();
        else if (later === 'signOut') void w.helper.signOut();
        else void w.helper.embed(second);
        // Settled by then, or never: the removed frame has no load to wait for.
        const settled = await Promise.race([
          w.embedding,
          new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 0)),
        ]);
        return { before, framesBefore, settled };
      },
      { later, second },
    );
    expect(outcome.framesBefore).toBe(1);
    expect(outcome.before).toMatchObject({ status: 'redeeming', message: 'Loading the dashboard...' });
    // The state of the moment the frame went: the later call's own outcome is its own promise's.
    expect(outcome.settled).toEqual(outcome.before);
    load.release();
    await page.close();
  },
);
