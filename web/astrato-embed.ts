/**
 * Astrato embed helper for a SaaS page: the browser half of the broker's ticket flow, with no
 * dependencies. Published from this folder as the package `@ticket-broker/astrato-embed` (one ES
 * module and its types; see README.md beside this file); `npm run build:web` builds it.
 *
 * The page's own backend asks the broker for a ticket (`POST /v1/tickets`, with its caller key,
 * which never reaches the browser) and hands the page the 201 body's `redeemUrl`, `embedUrl` and
 * `signOutUrl`. Then:
 *
 * 1. {@link AstratoEmbed.embed} fetches `redeemUrl` with `credentials: 'include'` (the vendor's
 *    `?embed` form sets its session cookie and answers the user as JSON), and only then injects
 *    the dashboard iframe with the URL the page gave it;
 * 2. every outcome is reported to the page ({@link EmbedState}): a failed redemption (CORS refused,
 *    network, ticket refused), a redemption for someone else than the expected person, a frame
 *    that says it is not signed in (third-party cookies blocked, or the session ended);
 * 3. with {@link AstratoEmbedOptions.getTicket}, a frame that was signed in and later says it is
 *    not (the vendor session ended) is signed in again once, in the same iframe;
 * 4. {@link AstratoEmbed.openTopLevel} is the fallback that works in every browser: the dashboard
 *    opened top-level in a new tab with a fresh ticket's `embedUrl` (its cookie is first-party
 *    there);
 * 5. {@link AstratoEmbed.signOut} ends the vendor session with `signOutUrl` before the next
 *    person uses the browser;
 * 6. {@link AstratoEmbed.destroy} removes what the helper added to the page (its frame, its
 *    `message` listener) when the page is done with it.
 *
 * Every step that waits (a redemption, a ticket, a sign-out) reports its outcome only if no later
 * `embed`, `signOut` or `destroy` came meanwhile: a redemption that ends after `signOut()` never
 * undoes the signed-out state. `openTopLevel` is not one of them: it leaves a step under way (a
 * frame that is loading) alone, and only checks, after waiting for its own ticket, that none of
 * those three came meanwhile.
 *
 * What it can know against the real tenant: the redemption's HTTP outcome (or that the browser
 * refused it, without the reason: CORS and network errors look the same to a page), the user in
 * the redemption's answer when that answer names one (`email`), the frame's `load` event, and the
 * message the vendor's own sample listens for (`{type: 'Astrato', message: '401Error'}`). What it
 * cannot know: who the frame is signed in as (cross-origin), whether a cookie was stored (it is
 * HttpOnly and on another site), or that the frame is signed in at all if the tenant never posts
 * that message.
 *
 * Stated assumptions (the vendor documents neither): that the embedded app posts that message when
 * it is not signed in (an ended session included; the sample only listens for it), and that it
 * posts it from the frame's own window with the origin of `dashboardUrl` (the helper acts on no
 * other `event.source` or `event.origin`, so no other frame or site can make it spend tickets).
 *
 * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
 * @see github.com/astrato-io/astrato-oem-integration-example (the vendor's sample page)
 */

/** What the page's backend passes on from the broker's 201 answer. */
export interface TicketUrls {
  /** The `?embed` form, fetched by this helper with credentials. */
  readonly redeemUrl: string;
  /** The `/embed` form, opened top-level by the fallback. */
  readonly embedUrl: string;
  /** Ends the vendor session. */
  readonly signOutUrl: string;
}

/**
 * Where the embed stands. `renewing`: the frame said it is not signed in after it had loaded (the
 * session ended, as far as a page can tell), and {@link AstratoEmbedOptions.getTicket} is fetching
 * and redeeming a fresh ticket for the same frame.
 */
export type EmbedStatus =
  | 'idle'
  | 'redeeming'
  | 'embedded'
  | 'renewing'
  | 'redeem-failed'
  | 'wrong-user'
  | 'frame-signed-out'
  | 'opened-top-level'
  | 'signed-out';

/** Why a step failed, for the page to choose its words or its fallback. */
export type EmbedFailure =
  /** `fetch` rejected: the browser refused the answer (CORS) or never got one (network). */
  | 'cors-or-network'
  /** The vendor answered an error status: ticket unknown, used, or older than 60 s. */
  | 'ticket-refused'
  /** The vendor answered 2xx but not JSON. */
  | 'unexpected-answer'
  /** The redemption named another user than `expectedEmail`. */
  | 'other-user'
  /** The frame said it is not signed in: third-party cookies blocked, or the session ended. */
  | 'frame-not-signed-in'
  /** The browser refused to open the new tab (a popup blocker). */
  | 'popup-blocked'
  /** The page's ticket function failed (e.g. the broker refused), or the page gave none. */
  | 'no-ticket';

/** The user as the vendor's redemption answer describes it (fields present only when it sent them). */
export interface RedeemedUser {
  readonly email?: string;
  readonly name?: string;
  readonly groupIds?: readonly string[];
  readonly groupNames?: readonly string[];
}

/** What the helper knows at one moment, as handed to {@link AstratoEmbedOptions.onStateChange}. */
export interface EmbedState {
  readonly status: EmbedStatus;
  /** One sentence for people. */
  readonly message: string;
  readonly failure?: EmbedFailure;
  /** The vendor's HTTP status, when it answered one. */
  readonly httpStatus?: number;
  /** From the redemption's answer. */
  readonly user?: RedeemedUser;
  /** True when {@link AstratoEmbed.openTopLevel} is the way forward. */
  readonly canOpenTopLevel: boolean;
}

/** Options of {@link createAstratoEmbed}. */
export interface AstratoEmbedOptions {
  /** Where the iframe goes (its children are replaced). */
  readonly container: HTMLElement;
  /** The dashboard (the tenant's embed link) the frame shows. */
  readonly dashboardUrl: string;
  /** The signed-in person's email: a redemption for anyone else is refused and reported. */
  readonly expectedEmail?: string;
  /** Called on every change of {@link AstratoEmbed.state}. */
  readonly onStateChange?: (state: EmbedState) => void;
  /** @default 'Analytics dashboard' */
  readonly frameTitle?: string;
  /** A `signOutUrl` known from an earlier page (the broker's 201 answer), for {@link AstratoEmbed.signOut}. */
  readonly signOutUrl?: string;
  /**
   * Fetches a fresh ticket from the page's backend (which asks the broker), as the vendor's sample
   * page does on `401Error`. With it, a frame that had loaded and then posts that it is not signed
   * in (the vendor session ended: signed out in another tab, or past its 7 days) is signed in
   * again: the helper redeems the new ticket and reloads the same iframe (never a second one),
   * reporting `renewing`, then `embedded`. At most once per {@link AstratoEmbed.embed} and once a
   * minute; when that is spent, or the renewal fails, the state is `frame-signed-out` as without
   * it. A message that comes before the frame's first `load` is that load's verdict (e.g.
   * third-party cookies blocked) and is never renewed; one that comes after it cannot be told
   * apart from an ended session, so a browser that withholds the cookie from an app that asks its
   * server only after loading costs one renewal, no more. Also the ticket source of
   * {@link AstratoEmbed.openTopLevel} when that is called without one. Without it, an ended
   * session is only reported.
   *
   * @see github.com/astrato-io/astrato-oem-integration-example, `src/templates/index.html`
   *   (`handleAstrato401Error`: a fresh ticket, the credentialed `?embed` fetch, then
   *   `iframe.src = iframe.src`)
   */
  readonly getTicket?: () => Promise<TicketUrls>;
}

/** The helper for one dashboard container, made by {@link createAstratoEmbed}. */
export interface AstratoEmbed {
  /** The latest state (also handed to `onStateChange`). */
  readonly state: EmbedState;
  /**
   * Redeems the ticket with a credentialed fetch, then shows the dashboard frame. Resolves once
   * the frame has loaded or a step failed, or, when a later `embed`, `signOut` or `destroy`
   * removes the frame before it loaded, at once with the state of that moment; each call starts
   * over, with its own renewal.
   */
  embed(ticket: TicketUrls): Promise<EmbedState>;
  /**
   * The fallback: opens a new tab at once (call it from a click, or popup blockers refuse), asks
   * `nextTicket` (default: {@link AstratoEmbedOptions.getTicket}) for a fresh ticket (the last one
   * is spent) and sends the tab to its `embedUrl`.
   */
  openTopLevel(nextTicket?: () => Promise<TicketUrls>): Promise<EmbedState>;
  /** Ends the vendor session in this browser (and in the fallback tab), and removes the frame. */
  signOut(): Promise<EmbedState>;
  /**
   * Removes what the helper added to the page, its frame and its `message` listener, for a page
   * that is done with it (a single-page app leaving the view). A step still under way ends without
   * changing the state. It does not end the vendor session: call {@link AstratoEmbed.signOut}
   * first for that. Afterwards the helper cannot be used: `embed`, `openTopLevel` and `signOut`
   * reject.
   */
  destroy(): void;
}

/** The window name of the fallback tab, so sign-out can reuse it. */
const FALLBACK_TAB = 'astrato-dashboard';

/** The shortest time between two automatic renewals, whatever the frame posts. */
const RENEWAL_INTERVAL_MS = 60_000;

/**
 * How long a renewal may take, from the frame's message to the reloaded frame's `load` (the page's
 * `getTicket`, the redemption, the reload): past it the state is `frame-signed-out`, with the
 * fallback offered, and whatever the renewal still gets changes nothing.
 */
const RENEWAL_DEADLINE_MS = 60_000;

const NOT_SIGNED_IN =
  'The dashboard is not signed in: this browser withholds the analytics cookie from the embedded frame (third-party cookies blocked), or the session ended.';

/**
 * Any "not signed in" after this embed's renewal reloaded the frame, during the reload or after its
 * load: the helper cannot tell a renewal that did not hold from a session that ended again.
 */
const RENEWAL_DID_NOT_HELP = `${NOT_SIGNED_IN} Signing in again did not help (it was signed in again once already since it was opened).`;

/** What the vendor's sample page listens for: the embedded app is not signed in. */
function isNotSignedInMessage(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const { type, message } = data as { type?: unknown; message?: unknown };
  return type === 'Astrato' && message === '401Error';
}

function stringList(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string') ? value : undefined;
}

function userFrom(body: unknown): RedeemedUser {
  if (typeof body !== 'object' || body === null) return {};
  const record = body as Record<string, unknown>;
  const groupIds = stringList(record.groupIds);
  const groupNames = stringList(record.groupNames);
  return {
    ...(typeof record.email === 'string' ? { email: record.email } : {}),
    ...(typeof record.name === 'string' ? { name: record.name } : {}),
    ...(groupIds ? { groupIds } : {}),
    ...(groupNames ? { groupNames } : {}),
  };
}

/** The outcome of one credentialed redemption. */
type Redemption =
  | { readonly ok: true; readonly user: RedeemedUser }
  | {
      readonly ok: false;
      readonly failure: EmbedFailure;
      readonly message: string;
      readonly httpStatus?: number;
    };

/** Redeems a ticket's `?embed` form with credentials: the vendor sets its cookie and names the user. */
async function redeem(redeemUrl: string): Promise<Redemption> {
  let response: Response;
  try {
    response = await fetch(redeemUrl, { credentials: 'include', cache: 'no-store' });
  } catch {
    return {
      ok: false,
      failure: 'cors-or-network',
      message:
        'The browser refused or could not reach the analytics sign-in (CORS not allowed for this site, or the network).',
    };
  }
  if (!response.ok) {
    await response.body?.cancel();
    return {
      ok: false,
      failure: 'ticket-refused',
      httpStatus: response.status,
      message: `The analytics sign-in was refused (HTTP ${response.status}): the ticket is used or expired.`,
    };
  }
  try {
    return { ok: true, user: userFrom(await response.json()) };
  } catch {
    return {
      ok: false,
      failure: 'unexpected-answer',
      httpStatus: response.status,
      message: 'The analytics sign-in answered something unexpected.',
    };
  }
}

/**
 * How many sessions the helper renews without the person doing anything: one per embed and one
 * a minute, so a frame that keeps saying "not signed in" (a cookie the browser withholds, a user
 * the tenant refuses) can never drive a loop of tickets and reloads.
 */
class RenewalBudget {
  private spentForThisEmbed = false;
  private lastAt = Number.NEGATIVE_INFINITY;

  /** A new embed: its own renewal, still no more than one a minute. */
  startEmbed(): void {
    this.spentForThisEmbed = false;
  }

  /** Spends the renewal when one is left, else says why not. */
  take(now: number): 'granted' | 'spent-for-this-embed' | 'too-soon' {
    if (this.spentForThisEmbed) return 'spent-for-this-embed';
    if (now - this.lastAt < RENEWAL_INTERVAL_MS) return 'too-soon';
    this.spentForThisEmbed = true;
    this.lastAt = now;
    return 'granted';
  }
}

/**
 * Ends the vendor session of this browser where the page can reach its cookie (same site, or
 * third-party cookies allowed): a credentialed `no-cors` GET, so no CORS permission is needed and
 * the answer is not read. Resolves even when the request fails (nothing more a page can do).
 *
 * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication (`/auth/proxy/0/sign_out`)
 */
export async function signOutOfAstrato(signOutUrl: string): Promise<void> {
  try {
    await fetch(signOutUrl, { credentials: 'include', mode: 'no-cors', cache: 'no-store' });
  } catch {
    // Offline or blocked: the next redemption replaces the session anyway.
  }
}

/**
 * Creates the helper for one dashboard container. Nothing happens until {@link AstratoEmbed.embed}.
 *
 * @returns the helper; its {@link AstratoEmbed.state} starts `idle`
 * @see https://help.astrato.io/en/articles/9413603-auth-oem-api-web-ticket-authentication
 */
export function createAstratoEmbed(options: AstratoEmbedOptions): AstratoEmbed {
  const dashboardOrigin = new URL(options.dashboardUrl, window.location.href).origin;
  let state: EmbedState = { status: 'idle', message: 'Not started.', canOpenTopLevel: false };
  let frame: HTMLIFrameElement | undefined;
  let signOutUrl = options.signOutUrl;
  let usedFallback = false;
  // embed, signOut and destroy each take the next number; a step that waited reports its outcome
  // only if its number is still the latest. openTopLevel takes none (it leaves a loading frame
  // alone): it remembers the number it found and checks it after waiting for its ticket.
  let generation = 0;
  let destroyed = false;
  const renewals = new RenewalBudget();
  // While renewing, the frame still holds the ended session's document, which may keep posting
  // "not signed in" (in bursts) until it is gone; only a message from the document the renewal
  // loads says the renewal did not help. True once that document is on its way, never before.
  let renewedFrameLoading = false;
  // The promise of an embed() whose frame has not loaded yet: a frame removed before its load never
  // loads, so removing it settles that promise (with the state of that moment) instead.
  let settleEmbed: ((state: EmbedState) => void) | undefined;

  const set = (next: EmbedState): EmbedState => {
    state = next;
    options.onStateChange?.(next);
    return next;
  };

  const removeFrame = () => {
    frame?.remove();
    frame = undefined;
    renewedFrameLoading = false;
    const settle = settleEmbed;
    settleEmbed = undefined;
    settle?.(state);
  };

  const withUser = (user: RedeemedUser | undefined) => (user ? { user } : {});

  const frameSignedOut = (
    message: string,
    failure: EmbedFailure = 'frame-not-signed-in',
    httpStatus?: number,
  ) =>
    set({
      status: 'frame-signed-out',
      failure,
      message,
      ...(httpStatus !== undefined ? { httpStatus } : {}),
      ...withUser(state.user),
      canOpenTopLevel: true,
    });

  const isOtherUser = (user: RedeemedUser): boolean => {
    const expected = options.expectedEmail?.toLowerCase();
    return Boolean(expected && user.email !== undefined && user.email.toLowerCase() !== expected);
  };

  /** That session is in the browser now: end it before anything can show it. */
  const refuseOtherUser = async (
    user: RedeemedUser,
    ticketSignOutUrl: string,
    current: number,
  ): Promise<EmbedState> => {
    await signOutOfAstrato(ticketSignOutUrl);
    if (current !== generation) return state;
    removeFrame();
    return set({
      status: 'wrong-user',
      failure: 'other-user',
      message: `The analytics session is for ${user.email}, not for ${options.expectedEmail}: not shown.`,
      user,
      canOpenTopLevel: false,
    });
  };

  const signedIn = (user: RedeemedUser, renewed: boolean): EmbedState => {
    const who = user.email ? ` as ${user.email}` : '';
    return set({
      status: 'embedded',
      message: renewed ? `Signed in to analytics again${who}.` : `Signed in to analytics${who}.`,
      user,
      canOpenTopLevel: false,
    });
  };

  /**
   * The vendor's sample does the same on `401Error`: a fresh ticket, redeemed, and the frame
   * reloaded. The words stay neutral: a browser that withholds the cookie may also get here, when
   * the app posts its first `401Error` after the frame's load.
   */
  const renew = async (getTicket: () => Promise<TicketUrls>, current: number): Promise<void> => {
    set({
      status: 'renewing',
      message: 'The dashboard says it is not signed in: signing in again...',
      ...withUser(state.user),
      canOpenTopLevel: false,
    });
    // What the deadline reports: the step still under way when it passes.
    let step: { readonly failure: EmbedFailure; readonly what: string } = {
      failure: 'no-ticket',
      what: 'no ticket for the dashboard',
    };
    let late = false;
    const deadline = setTimeout(() => {
      late = true;
      if (current !== generation || state.status !== 'renewing') return;
      renewedFrameLoading = false;
      frameSignedOut(
        `The dashboard is not signed in and could not be renewed: ${step.what} within ${RENEWAL_DEADLINE_MS / 1000} s.`,
        step.failure,
      );
    }, RENEWAL_DEADLINE_MS);
    // Past the deadline, or a later call came: the rest of this renewal changes nothing.
    const over = () => late || current !== generation;
    try {
      let ticket: TicketUrls;
      try {
        ticket = await getTicket();
      } catch (error) {
        if (over()) return;
        const why = error instanceof Error ? error.message : 'no ticket for the dashboard';
        frameSignedOut(`The dashboard is not signed in and could not be renewed: ${why}`, 'no-ticket');
        return;
      }
      if (over()) return;
      step = { failure: 'cors-or-network', what: 'the analytics sign-in did not answer' };
      signOutUrl = ticket.signOutUrl;
      const redeemed = await redeem(ticket.redeemUrl);
      // Even past the deadline: that person's session is in the browser now.
      if (redeemed.ok && isOtherUser(redeemed.user)) {
        await refuseOtherUser(redeemed.user, ticket.signOutUrl, current);
        return;
      }
      if (over() || !frame) return;
      if (!redeemed.ok) {
        frameSignedOut(
          `The dashboard is not signed in and could not be renewed. ${redeemed.message}`,
          redeemed.failure,
          redeemed.httpStatus,
        );
        return;
      }
      step = { failure: 'frame-not-signed-in', what: 'the dashboard did not load again' };
      const { user } = redeemed;
      const element = frame;
      // The same element navigates again, as the sample's `iframe.src = iframe.src`: no second
      // frame. First to an empty page: the ended session's document is gone once that has loaded,
      // so a "not signed in" it posted (or still had on its way) can never count against the renewal.
      await navigateFrame(element, 'about:blank');
      if (over() || frame !== element || state.status !== 'renewing') return;
      renewedFrameLoading = true;
      await navigateFrame(element, options.dashboardUrl);
      if (over() || frame !== element) return;
      renewedFrameLoading = false;
      if (state.status === 'renewing') signedIn(user, true);
    } finally {
      clearTimeout(deadline);
    }
  };

  /** Sends the frame to `url`; resolves on its `load` (never, if the frame is removed first). */
  const navigateFrame = (element: HTMLIFrameElement, url: string): Promise<void> =>
    new Promise((resolve) => {
      element.addEventListener('load', () => resolve(), { once: true });
      element.src = url;
    });

  const onNotSignedIn = () => {
    if (state.status === 'renewing') {
      if (renewedFrameLoading) {
        renewedFrameLoading = false;
        frameSignedOut(RENEWAL_DID_NOT_HELP);
      }
      return;
    }
    // Any other state already says what the page needs (a failure, the new tab, signed out).
    if (state.status !== 'redeeming' && state.status !== 'embedded') return;
    if (state.status === 'redeeming' || !options.getTicket) {
      frameSignedOut(NOT_SIGNED_IN);
      return;
    }
    const verdict = renewals.take(Date.now());
    if (verdict === 'granted') {
      void renew(options.getTicket, generation);
      return;
    }
    // Spent for this embed only by a renewal that reloaded the frame (one that failed left the state
    // frame-signed-out, which no message changes): this message comes from the reloaded frame.
    frameSignedOut(
      verdict === 'spent-for-this-embed'
        ? RENEWAL_DID_NOT_HELP
        : `${NOT_SIGNED_IN} It was signed in again less than a minute ago.`,
    );
  };

  // Assumed, not documented: the app posts from the frame's own window, with the dashboard's origin.
  const onMessage = (event: MessageEvent) => {
    if (!frame || event.source !== frame.contentWindow || event.origin !== dashboardOrigin) return;
    if (isNotSignedInMessage(event.data)) onNotSignedIn();
  };
  window.addEventListener('message', onMessage);

  /** The number of a call that starts something; refused once the helper is destroyed. */
  const begin = (what: string): number => {
    if (destroyed) throw new Error(`AstratoEmbed.${what}: the helper was destroyed`);
    generation += 1;
    return generation;
  };

  const injectFrame = (user: RedeemedUser, current: number): Promise<EmbedState> => {
    removeFrame();
    return new Promise((resolve) => {
      const element = document.createElement('iframe');
      element.title = options.frameTitle ?? 'Analytics dashboard';
      element.addEventListener(
        'load',
        () => {
          if (settleEmbed === resolve) settleEmbed = undefined;
          // A "not signed in" message arrives before load: it wins.
          if (current !== generation || state.status !== 'redeeming') return resolve(state);
          resolve(signedIn(user, false));
        },
        { once: true },
      );
      settleEmbed = resolve;
      element.src = options.dashboardUrl;
      frame = element;
      options.container.replaceChildren(element);
    });
  };

  return {
    get state() {
      return state;
    },

    async embed(ticket: TicketUrls): Promise<EmbedState> {
      const current = begin('embed');
      renewals.startEmbed();
      signOutUrl = ticket.signOutUrl;
      // Never leave a previous frame up while redeeming: it may show someone else's session.
      removeFrame();
      set({ status: 'redeeming', message: 'Signing in to analytics...', canOpenTopLevel: false });
      const redeemed = await redeem(ticket.redeemUrl);
      if (redeemed.ok && isOtherUser(redeemed.user)) {
        return refuseOtherUser(redeemed.user, ticket.signOutUrl, current);
      }
      if (current !== generation) return state;
      if (!redeemed.ok) {
        return set({
          status: 'redeem-failed',
          failure: redeemed.failure,
          message: redeemed.message,
          ...(redeemed.httpStatus !== undefined ? { httpStatus: redeemed.httpStatus } : {}),
          canOpenTopLevel: true,
        });
      }
      set({
        status: 'redeeming',
        message: 'Loading the dashboard...',
        user: redeemed.user,
        canOpenTopLevel: false,
      });
      return injectFrame(redeemed.user, current);
    },

    async openTopLevel(nextTicket = options.getTicket): Promise<EmbedState> {
      if (destroyed) throw new Error('AstratoEmbed.openTopLevel: the helper was destroyed');
      // Not a new number: the fallback leaves a frame that is loading alone. It only checks, after
      // waiting for its ticket, that nothing came since (a sign-out must not be undone by a tab).
      const current = generation;
      if (!nextTicket) {
        return set({
          ...state,
          failure: 'no-ticket',
          message: 'No ticket for the dashboard: pass getTicket to createAstratoEmbed, or a function here.',
          canOpenTopLevel: true,
        });
      }
      // Opened before any await, inside the click, so popup blockers let it through.
      const tab = window.open('about:blank', FALLBACK_TAB);
      if (!tab) {
        return set({
          ...state,
          failure: 'popup-blocked',
          message: 'The browser blocked the new tab: allow pop-ups for this site.',
          canOpenTopLevel: true,
        });
      }
      // The dashboard gets no handle on this page (no reverse tabnabbing).
      tab.opener = null;
      let ticket: TicketUrls;
      try {
        ticket = await nextTicket();
      } catch (error) {
        tab.close();
        if (current !== generation) return state;
        return set({
          ...state,
          failure: 'no-ticket',
          message: error instanceof Error ? error.message : 'No ticket for the dashboard.',
          canOpenTopLevel: true,
        });
      }
      if (current !== generation) {
        tab.close();
        return state;
      }
      signOutUrl = ticket.signOutUrl;
      tab.location.href = ticket.embedUrl;
      usedFallback = true;
      return set({
        status: 'opened-top-level',
        message: 'The dashboard is open in a new tab.',
        canOpenTopLevel: true,
      });
    },

    async signOut(): Promise<EmbedState> {
      const current = begin('signOut');
      removeFrame();
      if (signOutUrl) {
        // The fallback's cookie is first-party, so only a top-level request carries it: the same
        // named tab (or a new one, which a popup blocker may refuse outside a click) goes to sign-out.
        if (usedFallback) {
          const tab = window.open(signOutUrl, FALLBACK_TAB);
          try {
            if (tab) tab.opener = null;
          } catch {
            // Already on the vendor's site: it has its own origin, nothing to cut.
          }
        }
        await signOutOfAstrato(signOutUrl);
      }
      usedFallback = false;
      // An embed() since then is the page's latest word: it is not marked signed out.
      if (current !== generation) return state;
      return set({ status: 'signed-out', message: 'Signed out of analytics.', canOpenTopLevel: false });
    },

    destroy(): void {
      if (destroyed) return;
      generation += 1;
      destroyed = true;
      removeFrame();
      window.removeEventListener('message', onMessage);
    },
  };
}
