import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Frame, type Page } from 'playwright-core';
import { EMBED_HELPER_PATH } from '../../local/demo-app';
import { type RunningChild, startChild } from '../support/child-process';
import {
  bundleInstalledHelper,
  type InstalledEmbedPackage,
  packAndInstallEmbedPackage,
} from '../support/embed-package';

/**
 * What the browser tests share: the local stack started as a user starts it (`npm start`'s entry
 * point as a child process), Debian's Chromium driven by playwright-core, and the demo page's
 * steps as a person takes them.
 */
export const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((path) => existsSync(path));
export const INSTALL_HINT =
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

export interface StackUrls {
  readonly demo: string;
  readonly demoCrossSite: string;
  readonly astrato: string;
  readonly api: string;
}

export interface LocalStack {
  readonly child: RunningChild;
  readonly urls: StackUrls;
  /** The development caller key the banner prints. */
  readonly devKey: string;
}

/**
 * The stack's output with every caller key's secret part removed (the key id stays, as the broker
 * logs it): the banner prints the full development key, and an error message ends up in CI logs.
 */
export function withoutCallerKeys(output: string): string {
  return output.replace(/\btb_([A-Za-z0-9]{16})_[A-Za-z0-9_-]+/g, 'tb_$1_[redacted]');
}

function field(banner: string, label: string): string {
  const match = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(banner);
  if (!match?.[1]) throw new Error(`no "${label}" in the banner:\n${withoutCallerKeys(banner)}`);
  return match[1].replace(/\/$/, '');
}

/** `npm start` on OS-chosen ports; the URLs and the key come from its banner. */
export async function startLocalStack(): Promise<LocalStack> {
  // Fail (not skip) without Chromium: CI installs it, and a developer should learn how.
  if (!CHROMIUM) throw new Error(INSTALL_HINT);
  const child = await startChild(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts'],
    /Press Ctrl-C to stop\./,
    {
      env: { ...process.env, TICKET_BROKER_PORTS: 'ephemeral' },
      timeoutMs: 45_000,
    },
  );
  const banner = child.output();
  return {
    child,
    urls: {
      demo: field(banner, 'Demo SaaS page'),
      demoCrossSite: field(banner, 'Demo, cross-site'),
      astrato: field(banner, 'Astrato sim'),
      api: field(banner, 'Broker API'),
    },
    devKey: /Development caller key[^\n]*\n\s+(\S+)/.exec(banner)?.[1] ?? '',
  };
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

/** Ctrl-C, as a person stops it: exit code 0 and nothing left listening. */
export async function stopLocalStack(stack: LocalStack | undefined): Promise<void> {
  const child = stack?.child.process;
  if (!stack || !child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  const code = await Promise.race([
    exited,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref()),
  ]);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(
      `the local stack did not stop on SIGINT; output:\n${withoutCallerKeys(stack.child.output())}`,
    );
  }
  expect(code).toBe(0);
  for (const url of [stack.urls.demo, stack.urls.api, stack.urls.astrato])
    expect(await listening(url)).toBe(false);
}

/**
 * Fresh headless Chromiums, each with its own new profile (default settings: third-party cookies
 * blocked). Every page gets the browser helper as installed from the packed tarball (`module`)
 * wherever it asks the demo for it: the demo's own build of the source never runs here.
 */
export class Browsers {
  readonly contexts: BrowserContext[] = [];
  private readonly profiles: string[] = [];
  /** How many times a page asked for the helper and got the installed package's module. */
  helperServed = 0;

  constructor(
    private readonly module: string,
    private readonly onContext: (context: BrowserContext) => void = () => undefined,
  ) {}

  async open(): Promise<Page> {
    if (!CHROMIUM) throw new Error(INSTALL_HINT);
    const profile = mkdtempSync(join(tmpdir(), 'tb-chromium-'));
    this.profiles.push(profile);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
    });
    this.contexts.push(context);
    context.setDefaultTimeout(10_000);
    await context.route(`**${EMBED_HELPER_PATH}`, (route) => {
      this.helperServed += 1;
      return route.fulfill({
        status: 200,
        contentType: 'text/javascript; charset=utf-8',
        headers: { 'cache-control': 'no-cache' },
        body: this.module,
      });
    });
    this.onContext(context);
    return context.pages()[0] ?? context.newPage();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.contexts.map((context) => context.close()));
    for (const profile of this.profiles) rmSync(profile, { recursive: true, force: true });
  }
}

export async function signIn(
  page: Page,
  base: string,
  email: string,
  groups: readonly string[],
): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByTestId('signin-email').fill(email);
  for (const group of groups) await page.getByTestId(`group-${group}`).check();
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('open-analytics').waitFor();
  expect(await page.getByTestId('signed-in-as').textContent()).toBe(email);
}

/** The helper's status as the demo page shows it (`data-status` of the status line). */
export const frameStatus = (page: Page) => page.getByTestId('frame-status').getAttribute('data-status');

/**
 * "Open analytics": backend ticket, credentialed redemption by the helper, then the frame. Returns
 * the top-level navigations seen meanwhile (there must be none) once the helper has settled.
 */
export async function openAnalytics(page: Page, settled: readonly string[]): Promise<string[]> {
  const navigations: string[] = [];
  const onNavigated = (frame: Frame) => {
    if (frame === page.mainFrame()) navigations.push(frame.url());
  };
  page.on('framenavigated', onNavigated);
  // Settled by this click, not by an earlier embed whose status is still on the line.
  await page.evaluate((statuses) => {
    const line = document.querySelector('[data-testid=frame-status]');
    if (!line) throw new Error('no status line');
    const settledNow = new Promise<void>((resolve) => {
      new MutationObserver((_records, observer) => {
        if (!statuses.includes(line.getAttribute('data-status') ?? '')) return;
        observer.disconnect();
        resolve();
      }).observe(line, { attributes: true, attributeFilter: ['data-status'] });
    });
    Object.assign(window, { settledNow });
  }, settled);
  await page.getByTestId('open-analytics').click();
  await page.evaluate(() => (window as unknown as { settledNow: Promise<void> }).settledNow);
  page.off('framenavigated', onNavigated);
  return navigations;
}

export const frameOf = (page: Page) => page.frameLocator('[data-testid=analytics] iframe');

/** Sets the simulator's embedding origins through its control API (another process runs it). */
export async function setEmbeddingOrigins(astratoUrl: string, origins: readonly string[]): Promise<void> {
  const response = await fetch(`${astratoUrl}/__sim/embedding-origins`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(origins),
  });
  expect(response.status).toBe(204);
}

/** Every ticket the simulator has issued so far (each one is a broker `POST /v1/tickets`). */
export async function ticketsIssued(astratoUrl: string): Promise<number> {
  return ((await (await fetch(`${astratoUrl}/__sim/tickets`)).json()) as unknown[]).length;
}

/** What a browser test file shares: `npm start`, and browsers running the helper as installed. */
export interface BrowserWorld {
  readonly urls: StackUrls;
  /** The development caller key the banner prints. */
  readonly devKey: string;
  readonly browsers: Browsers;
}

/**
 * Starts, once for the test file, the local stack as a user starts it and browsers whose pages get
 * the helper as a SaaS team gets it (packed with `npm pack`, installed from the tarball, bundled from
 * `node_modules`); stops them all after the file. Call it at the top of the file.
 * @param onContext sees each browser context as it opens (to record what it receives, say)
 * @returns what was started, filled in before the file's first test runs
 */
export function useBrowserWorld(onContext?: (context: BrowserContext) => void): BrowserWorld {
  let stack: LocalStack | undefined;
  let installed: InstalledEmbedPackage | undefined;
  const world = {} as { -readonly [K in keyof BrowserWorld]: BrowserWorld[K] };
  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    installed = packAndInstallEmbedPackage();
    world.browsers = new Browsers(bundleInstalledHelper(installed.projectDir), onContext);
    stack = await startLocalStack();
    world.urls = stack.urls;
    world.devKey = stack.devKey;
  }, 120_000);
  afterAll(async () => {
    await world.browsers?.close();
    installed?.remove();
    await stopLocalStack(stack);
  }, 30_000);
  return world;
}
