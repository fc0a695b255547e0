import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildEmbedHelper } from '../web/build';
import {
  escapeHtml,
  type LocalServer,
  parseCookies,
  randomToken,
  readBody,
  scriptJson,
  send,
  sendHtml,
  sendJson,
  startHttpServer,
} from './http-kit';

/**
 * The demo SaaS app of the local stack: what a customer's product does to embed partner analytics
 * through the broker, exactly as a SaaS team would ship it.
 *
 * 1. A person signs in to the SaaS app (its own session, nothing to do with the partner).
 * 2. "Open analytics": the page asks its own backend, which asks the broker for a one-time ticket
 *    with the SaaS app's caller key. The key stays on the server; the browser never sees it.
 * 3. The page hands the ticket's URLs to the project's browser helper (the package in web/,
 *    served as one ES module): it redeems `redeemUrl` with a credentialed fetch, then injects the
 *    dashboard frame; no top-level navigation. Whatever goes wrong (redemption refused, a frame
 *    that is not signed in because third-party cookies are blocked) is shown, with the fallback
 *    the vendor's top-level form allows: the dashboard in a new tab. The page's ticket function is
 *    the helper's `getTicket` too, so a vendor session that ends later (signed out in another
 *    tab) is signed in again once, in the same frame.
 * 4. Signing out of the SaaS app ends the partner session first (`signOutUrl`), so the next
 *    person in this browser never sees the previous one's dashboard.
 */
export interface DemoAppOptions {
  /** 0 = OS-chosen; listens on 127.0.0.1 only. */
  readonly port?: number;
  readonly brokerUrl: string;
  /** The SaaS backend's caller key: used server-side only, never sent to the browser. */
  readonly callerKey: string;
  /** The dashboard the frame shows (the tenant's embed link). */
  readonly dashboardUrl: string;
  readonly connection?: string;
  /** Offered in the sign-in form. */
  readonly groups: readonly string[];
}

export interface DemoApp {
  /** http://127.0.0.1:PORT: the same site as the simulator (127.0.0.1), so the embed works. */
  readonly url: string;
  /** http://localhost:PORT: another site than the simulator, the third-party-cookie case. */
  readonly crossSiteUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

interface DemoUser {
  readonly email: string;
  readonly name: string;
  readonly groupIds: readonly string[];
  /** The partner's sign-out URL from the last ticket, to end that session when this user signs out. */
  signOutUrl?: string;
}

/** Where the page loads the browser helper from. */
export const EMBED_HELPER_PATH = '/assets/astrato-embed.js';

const SESSION_COOKIE = 'demo_session';

const STYLE = `
  body { font-family: system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #23395d; color: white; padding: 14px 24px; display: flex; justify-content: space-between; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  main { max-width: 980px; margin: 24px auto; padding: 0 24px; }
  .card { background: white; border-radius: 8px; padding: 20px 24px; box-shadow: 0 1px 3px rgba(0,0,0,.12); margin-bottom: 18px; }
  label { display: block; margin: 10px 0 4px; font-weight: 600; }
  input[type=email], input[type=text] { width: 100%; max-width: 360px; padding: 7px; border: 1px solid #b7bfcc; border-radius: 5px; }
  .groups label { display: inline-block; font-weight: normal; margin-right: 14px; }
  button, .button { background: #2f6fd6; color: white; border: 0; border-radius: 5px; padding: 8px 16px; font-size: 14px; cursor: pointer; text-decoration: none; display: inline-block; }
  button.secondary { background: #6b778c; }
  .error { background: #fdecea; border: 1px solid #f5c2c0; color: #8a1c14; border-radius: 6px; padding: 10px 14px; margin-top: 14px; }
  .notice { background: #fff7e0; border: 1px solid #f1d58a; border-radius: 6px; padding: 12px 16px; margin-bottom: 14px; }
  #dashboard iframe { width: 100%; height: 420px; border: 1px solid #d5dae3; border-radius: 6px; background: white; }
  .status { margin: 12px 0; }
  .muted { color: #6b778c; font-size: 13px; }
  [hidden] { display: none !important; }
`;

function page(title: string, user: DemoUser | undefined, body: string, moduleScript = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><header><h1>Acme Analytics demo</h1>${
    user
      ? `<form id="logout" method="post" action="/logout"><span data-testid="signed-in-as">${escapeHtml(user.email)}</span> <button class="secondary" data-testid="sign-out">Sign out</button></form>`
      : ''
  }</header><main>${body}</main>${moduleScript ? `<script type="module">${moduleScript}</script>` : ''}</body></html>`;
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const sessions = new Map<string, DemoUser>();
  // The same module `npm run build:web` writes, built once at start.
  const helper = buildEmbedHelper().code;

  const userOf = (request: IncomingMessage): DemoUser | undefined => {
    const id = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
    return id ? sessions.get(id) : undefined;
  };

  const home = (response: ServerResponse, user: DemoUser | undefined) => {
    if (!user) {
      const groups = options.groups
        .map(
          (group) =>
            `<label><input type="checkbox" name="groupIds" value="${escapeHtml(group)}" data-testid="group-${escapeHtml(group)}"> ${escapeHtml(group)}</label>`,
        )
        .join('');
      sendHtml(
        response,
        200,
        page(
          'Sign in',
          undefined,
          `<div class="card"><h2>Sign in</h2>
          <form method="post" action="/login">
            <label for="email">Email</label><input id="email" type="email" name="email" required data-testid="signin-email">
            <label for="name">Name</label><input id="name" type="text" name="name" data-testid="signin-name">
            <label>Groups (the analytics partner shows data for these)</label><div class="groups">${groups}</div>
            <p><button data-testid="signin-submit">Sign in</button></p>
          </form>
          <p class="muted">The development caller may request the groups ${escapeHtml(
            options.groups.filter((group) => group !== 'admins').join(', '),
          )}; tick <code>admins</code> to see the broker refuse.</p></div>`,
        ),
      );
      return;
    }
    sendHtml(
      response,
      200,
      page(
        'Home',
        user,
        `<div class="card"><h2>Welcome, ${escapeHtml(user.name || user.email)}</h2>
        <p>Groups: <span data-testid="user-groups">${escapeHtml(user.groupIds.join(', ') || 'none')}</span></p>
        <p><button id="open" data-testid="open-analytics">Open analytics</button></p>
        <div id="error" class="error" data-testid="broker-error" role="alert" hidden></div>
        <div id="status" class="status muted" data-testid="frame-status" role="status"></div>
        <div id="fallback" class="notice" data-testid="cookie-fallback" hidden>
          <strong>The embedded dashboard could not sign you in.</strong> <span id="fallback-why"></span>
          <p><button id="top-level" data-testid="open-dashboard-top-level">Open the dashboard in a new tab</button></p>
          <p class="muted">A new tab works in every browser (the analytics cookie is first-party there).
          Serving the analytics partner under this app's own site makes the frame work everywhere.</p>
        </div>
        <div id="dashboard" data-testid="analytics"></div></div>`,
        `import { createAstratoEmbed } from ${scriptJson(EMBED_HELPER_PATH)};
        const page = ${scriptJson({ dashboardUrl: options.dashboardUrl, email: user.email, signOutUrl: user.signOutUrl ?? null })};
        const $ = (id) => document.getElementById(id);
        // The page's backend asks the broker; a refusal carries the broker's problem details.
        async function ticket() {
          const response = await fetch('/api/embed-ticket', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
          const answer = await response.json().catch(() => ({}));
          if (!response.ok) {
            throw new Error('Analytics unavailable: ' + (answer.detail || 'the broker refused') + (answer.code ? ' (' + answer.code + ', ' + answer.status + ')' : ''));
          }
          return answer;
        }
        const embed = createAstratoEmbed({
          container: $('dashboard'),
          dashboardUrl: page.dashboardUrl,
          expectedEmail: page.email,
          ...(page.signOutUrl ? { signOutUrl: page.signOutUrl } : {}),
          // A fresh ticket when the vendor session ends later, and for the new-tab fallback.
          getTicket: ticket,
          onStateChange(state) {
            $('status').textContent = state.message;
            $('status').dataset.status = state.status;
            $('status').dataset.failure = state.failure ?? '';
            $('status').hidden = state.canOpenTopLevel;
            $('fallback').hidden = !state.canOpenTopLevel;
            $('fallback-why').textContent = state.canOpenTopLevel ? state.message : '';
          },
        });
        const showError = (error) => {
          $('error').textContent = error.message;
          $('error').hidden = false;
        };
        $('open').addEventListener('click', async () => {
          $('error').hidden = true;
          let urls;
          try {
            urls = await ticket();
          } catch (error) {
            return showError(error);
          }
          await embed.embed(urls);
        });
        $('top-level').addEventListener('click', () => {
          embed.openTopLevel().then((state) => {
            if (state.failure === 'no-ticket') showError(new Error(state.message));
          });
        });
        // Sign out of the partner first, so the next person in this browser starts clean.
        $('logout').addEventListener('submit', async (event) => {
          event.preventDefault();
          await embed.signOut();
          event.target.submit();
        });`,
      ),
    );
  };

  const issueTicket = async (response: ServerResponse, user: DemoUser | undefined) => {
    if (!user) {
      sendJson(response, 401, { status: 401, code: 'signed_out', detail: 'sign in first' });
      return;
    }
    // The SaaS backend's call to the broker: the only place the caller key is used.
    let brokerResponse: Response;
    try {
      brokerResponse = await fetch(`${options.brokerUrl}/v1/tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.callerKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          ...(options.connection ? { connection: options.connection } : {}),
          email: user.email,
          ...(user.name ? { name: user.name } : {}),
          groupIds: user.groupIds,
        }),
      });
    } catch {
      sendJson(response, 502, {
        status: 502,
        code: 'broker_unreachable',
        detail: 'the ticket broker cannot be reached',
      });
      return;
    }
    const body = (await brokerResponse.json().catch(() => ({}))) as Record<string, unknown>;
    const urls = [body.redeemUrl, body.embedUrl, body.signOutUrl];
    if (brokerResponse.status !== 201 || !urls.every((url) => typeof url === 'string')) {
      // The broker's problem details are meant for people: pass them on (never the key).
      sendJson(response, brokerResponse.status >= 400 ? brokerResponse.status : 502, {
        status: brokerResponse.status,
        code: typeof body.code === 'string' ? body.code : 'unexpected',
        detail: typeof body.detail === 'string' ? body.detail : 'the broker answered unexpectedly',
      });
      return;
    }
    user.signOutUrl = String(body.signOutUrl);
    // Only what the browser needs: the partner URLs (they carry the one-time ticket), never the key.
    sendJson(
      response,
      200,
      {
        redeemUrl: body.redeemUrl,
        embedUrl: body.embedUrl,
        signOutUrl: body.signOutUrl,
        expiresAt: body.expiresAt,
      },
      { 'cache-control': 'no-store' },
    );
  };

  const login = async (request: IncomingMessage, response: ServerResponse) => {
    const form = new URLSearchParams(await readBody(request, 16 * 1024));
    const email = (form.get('email') ?? '').trim().toLowerCase();
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) {
      sendHtml(
        response,
        400,
        page(
          'Sign in',
          undefined,
          '<div class="card error">A valid email is required. <a href="/">Back</a></div>',
        ),
      );
      return;
    }
    const allowed = new Set(options.groups);
    const id = randomToken();
    sessions.set(id, {
      email,
      name: (form.get('name') ?? '').trim().slice(0, 200),
      groupIds: form.getAll('groupIds').filter((group) => allowed.has(group)),
    });
    response
      .writeHead(303, {
        location: '/',
        'set-cookie': `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`,
      })
      .end();
  };

  const server: LocalServer = await startHttpServer(
    async (request, response, { url }) => {
      const user = userOf(request);
      const route = `${request.method} ${url.pathname}`;
      switch (route) {
        case 'GET /':
          return home(response, user);
        case `GET ${EMBED_HELPER_PATH}`:
          send(response, 200, helper, 'text/javascript; charset=utf-8', { 'cache-control': 'no-cache' });
          return;
        case 'POST /login':
          return login(request, response);
        case 'POST /logout': {
          const id = parseCookies(request.headers.cookie).get(SESSION_COOKIE);
          if (id) sessions.delete(id);
          response
            .writeHead(303, { location: '/', 'set-cookie': `${SESSION_COOKIE}=; Path=/; Max-Age=0` })
            .end();
          return;
        }
        case 'POST /api/embed-ticket':
          return issueTicket(response, user);
        default:
          sendHtml(
            response,
            404,
            page('Not found', user, '<div class="card">Not found. <a href="/">Home</a></div>'),
          );
      }
    },
    options.port !== undefined ? { port: options.port } : {},
  );

  return {
    url: server.url,
    crossSiteUrl: `http://localhost:${server.port}`,
    port: server.port,
    stop: () => server.stop(),
  };
}
