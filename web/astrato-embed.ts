/**
 * Astrato embed helper for a SaaS page: the browser half of the broker's ticket flow, with no
 * dependencies. `npm run build:web` compiles it to one ES module, `dist/web/astrato-embed.js`.
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
 * 3. {@link AstratoEmbed.openTopLevel} is the fallback that works in every browser: the dashboard
 *    opened top-level in a new tab with a fresh ticket's `embedUrl` (its cookie is first-party
 *    there);
 * 4. {@link AstratoEmbed.signOut} ends the vendor session with `signOutUrl` before the next
 *    person uses the browser.
 *
 * What it can know against the real tenant: the redemption's HTTP outcome (or that the browser
 * refused it, without the reason: CORS and network errors look the same to a page), the user in
 * the redemption's answer when that answer names one (`email`), the frame's `load` event, and the
 * message the vendor's own sample listens for (`{type: 'Astrato', message: '401Error'}` posted by
 * the embedded app when it is not signed in). What it cannot know: who the frame is signed in as
 * (cross-origin), whether a cookie was stored (it is HttpOnly and on another site), or that the
 * frame is signed in at all if the tenant never posts that message.
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

/** Where the embed stands. */
export type EmbedStatus =
  | 'idle'
  | 'redeeming'
  | 'embedded'
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
  /** The page's ticket function failed (e.g. the broker refused). */
  | 'no-ticket';

/** The user as the vendor's redemption answer describes it (fields present only when it sent them). */
export interface RedeemedUser {
  readonly email?: string;
  readonly name?: string;
  readonly groupIds?: readonly string[];
  readonly groupNames?: readonly string[];
}

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
}

export interface AstratoEmbed {
  readonly state: EmbedState;
  /** Redeems the ticket with a credentialed fetch, then shows the dashboard frame. */
  embed(ticket: TicketUrls): Promise<EmbedState>;
  /**
   * The fallback: opens a new tab at once (call it from a click, or popup blockers refuse), asks
   * `nextTicket` for a fresh ticket (the last one is spent) and sends the tab to its `embedUrl`.
   */
  openTopLevel(nextTicket: () => Promise<TicketUrls>): Promise<EmbedState>;
  /** Ends the vendor session in this browser (and in the fallback tab), and removes the frame. */
  signOut(): Promise<EmbedState>;
}

/** The window name of the fallback tab, so sign-out can reuse it. */
const FALLBACK_TAB = 'astrato-dashboard';

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

/**
 * Ends the vendor session of this browser where the page can reach its cookie (same site, or
 * third-party cookies allowed): a credentialed `no-cors` GET, so no CORS permission is needed and
 * the answer is not read. Resolves even when the request fails (nothing more a page can do).
 */
export async function signOutOfAstrato(signOutUrl: string): Promise<void> {
  try {
    await fetch(signOutUrl, { credentials: 'include', mode: 'no-cors', cache: 'no-store' });
  } catch {
    // Offline or blocked: the next redemption replaces the session anyway.
  }
}

/** Creates the helper for one dashboard container. */
export function createAstratoEmbed(options: AstratoEmbedOptions): AstratoEmbed {
  const dashboardOrigin = new URL(options.dashboardUrl, window.location.href).origin;
  let state: EmbedState = { status: 'idle', message: 'Not started.', canOpenTopLevel: false };
  let frame: HTMLIFrameElement | undefined;
  let signOutUrl = options.signOutUrl;
  let usedFallback = false;
  let generation = 0;

  const set = (next: EmbedState): EmbedState => {
    state = next;
    options.onStateChange?.(next);
    return next;
  };

  const removeFrame = () => {
    frame?.remove();
    frame = undefined;
  };

  window.addEventListener('message', (event: MessageEvent) => {
    if (!frame || event.source !== frame.contentWindow || event.origin !== dashboardOrigin) return;
    if (!isNotSignedInMessage(event.data)) return;
    set({
      status: 'frame-signed-out',
      failure: 'frame-not-signed-in',
      message:
        'The dashboard is not signed in: this browser withholds the analytics cookie from the embedded frame (third-party cookies blocked), or the session ended.',
      ...(state.user ? { user: state.user } : {}),
      canOpenTopLevel: true,
    });
  });

  const injectFrame = (user: RedeemedUser, current: number): Promise<EmbedState> =>
    new Promise((resolve) => {
      removeFrame();
      const element = document.createElement('iframe');
      element.title = options.frameTitle ?? 'Analytics dashboard';
      element.addEventListener(
        'load',
        () => {
          // A "not signed in" message arrives before load: it wins.
          if (current !== generation || state.status !== 'redeeming') return resolve(state);
          resolve(
            set({
              status: 'embedded',
              message: user.email ? `Signed in to analytics as ${user.email}.` : 'Signed in to analytics.',
              user,
              canOpenTopLevel: false,
            }),
          );
        },
        { once: true },
      );
      element.src = options.dashboardUrl;
      frame = element;
      options.container.replaceChildren(element);
    });

  return {
    get state() {
      return state;
    },

    async embed(ticket: TicketUrls): Promise<EmbedState> {
      generation += 1;
      const current = generation;
      signOutUrl = ticket.signOutUrl;
      // Never leave a previous frame up while redeeming: it may show someone else's session.
      removeFrame();
      set({ status: 'redeeming', message: 'Signing in to analytics...', canOpenTopLevel: false });
      let response: Response;
      try {
        response = await fetch(ticket.redeemUrl, { credentials: 'include', cache: 'no-store' });
      } catch {
        return set({
          status: 'redeem-failed',
          failure: 'cors-or-network',
          message:
            'The browser refused or could not reach the analytics sign-in (CORS not allowed for this site, or the network).',
          canOpenTopLevel: true,
        });
      }
      if (!response.ok) {
        await response.body?.cancel();
        return set({
          status: 'redeem-failed',
          failure: 'ticket-refused',
          httpStatus: response.status,
          message: `The analytics sign-in was refused (HTTP ${response.status}): the ticket is used or expired.`,
          canOpenTopLevel: true,
        });
      }
      let user: RedeemedUser;
      try {
        user = userFrom(await response.json());
      } catch {
        return set({
          status: 'redeem-failed',
          failure: 'unexpected-answer',
          httpStatus: response.status,
          message: 'The analytics sign-in answered something unexpected.',
          canOpenTopLevel: true,
        });
      }
      const expected = options.expectedEmail?.toLowerCase();
      if (expected && user.email !== undefined && user.email.toLowerCase() !== expected) {
        // That session is in the browser now: end it before anything can show it.
        await signOutOfAstrato(ticket.signOutUrl);
        return set({
          status: 'wrong-user',
          failure: 'other-user',
          message: `The analytics session is for ${user.email}, not for ${options.expectedEmail}: not shown.`,
          user,
          canOpenTopLevel: false,
        });
      }
      if (current !== generation) return state;
      set({ status: 'redeeming', message: 'Loading the dashboard...', user, canOpenTopLevel: false });
      return injectFrame(user, current);
    },

    async openTopLevel(nextTicket: () => Promise<TicketUrls>): Promise<EmbedState> {
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
        return set({
          ...state,
          failure: 'no-ticket',
          message: error instanceof Error ? error.message : 'No ticket for the dashboard.',
          canOpenTopLevel: true,
        });
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
      generation += 1;
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
      return set({ status: 'signed-out', message: 'Signed out of analytics.', canOpenTopLevel: false });
    },
  };
}
