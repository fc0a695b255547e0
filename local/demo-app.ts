import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  escapeHtml,
  type LocalServer,
  parseCookies,
  randomToken,
  readBody,
  scriptJson,
  sendHtml,
  sendJson,
  startHttpServer,
} from './http-kit';

/**
 * The demo SaaS app of the local stack: what a customer's product does to embed partner analytics
 * through the broker, in the flow the vendor prescribes.
 *
 * 1. A person signs in to the SaaS app (its own session, nothing to do with the partner).
 * 2. "Open analytics": the page asks its own backend, which asks the broker for a one-time ticket
 *    with the SaaS app's caller key. The key stays on the server; the browser never sees it.
 * 3. The browser goes top-level to the embed URL (a third-party iframe could not set the partner's
 *    session cookie), the partner signs the person in and sends them back to `/analytics`.
 * 4. `/analytics` frames the dashboard. The dashboard tells its parent whether it is signed in;
 *    where the browser withheld the partner's cookie from the frame (third-party cookies blocked),
 *    the page says so and offers a fallback that works: the dashboard opened top-level.
 */
export interface DemoAppOptions {
  /** 0 = OS-chosen; listens on 127.0.0.1 only. */
  readonly port?: number;
  readonly brokerUrl: string;
  /** The SaaS backend's caller key: used server-side only, never sent to the browser. */
  readonly callerKey: string;
  /** Where the partner's app lives: the frame shows `${astratoUrl}/dashboard`. */
  readonly astratoUrl: string;
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
}

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
  iframe { width: 100%; height: 420px; border: 1px solid #d5dae3; border-radius: 6px; background: white; }
  .muted { color: #6b778c; font-size: 13px; }
  [hidden] { display: none !important; }
`;

function page(title: string, user: DemoUser | undefined, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><header><h1>Acme Analytics demo</h1>${
    user
      ? `<form method="post" action="/logout"><span data-testid="signed-in-as">${escapeHtml(user.email)}</span> <button class="secondary" data-testid="sign-out">Sign out</button></form>`
      : ''
  }</header><main>${body}</main>${script ? `<script>${script}</script>` : ''}</body></html>`;
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const sessions = new Map<string, DemoUser>();
  const astratoOrigin = new URL(options.astratoUrl).origin;
  const dashboardUrl = `${options.astratoUrl}/dashboard`;

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
        <div id="error" class="error" data-testid="broker-error" role="alert" hidden></div></div>`,
        `document.getElementById('open').addEventListener('click', async () => {
          const error = document.getElementById('error');
          error.hidden = true;
          let answer;
          try {
            const response = await fetch('/api/embed-ticket', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
            answer = await response.json();
            if (!response.ok) throw Object.assign(new Error(answer.detail || 'the broker refused'), { answer });
          } catch (e) {
            const a = e.answer || {};
            error.textContent = 'Analytics unavailable: ' + (a.detail || e.message) + (a.code ? ' (' + a.code + ', ' + a.status + ')' : '');
            error.hidden = false;
            return;
          }
          // Top-level navigation, as the vendor requires; it sends us back to /analytics.
          const back = location.origin + '/analytics';
          location.assign(answer.embedUrl + (answer.embedUrl.includes('?') ? '&' : '?') + 'returnTo=' + encodeURIComponent(back));
        });`,
      ),
    );
  };

  const analytics = (response: ServerResponse, user: DemoUser | undefined) => {
    if (!user) {
      response.writeHead(303, { location: '/' }).end();
      return;
    }
    sendHtml(
      response,
      200,
      page(
        'Analytics',
        user,
        `<div class="card"><h2>Analytics</h2>
        <div id="status" class="muted" data-testid="frame-status">Loading the dashboard...</div>
        <div id="fallback" class="notice" data-testid="cookie-fallback" hidden>
          <strong>The embedded dashboard could not sign you in.</strong>
          Your browser blocks third-party cookies for the analytics site, so the frame below has no
          session. Open the dashboard on its own page instead:
          <p><a class="button" data-testid="open-dashboard-top-level" href="${escapeHtml(dashboardUrl)}">Open the dashboard</a></p>
          <p class="muted">Serving the analytics partner under this app's own domain avoids this in every browser.</p>
        </div>
        <div id="mismatch" class="notice" data-testid="frame-user-mismatch" role="alert" hidden></div>
        <iframe id="frame" data-testid="analytics-frame" title="Analytics dashboard" src="${escapeHtml(dashboardUrl)}"></iframe>
        <p><a href="/">Back</a></p></div>`,
        `const partner = ${scriptJson(astratoOrigin)};
        const me = ${scriptJson(user.email)};
        const status = document.getElementById('status');
        const fallback = document.getElementById('fallback');
        let settled = false;
        const offerFallback = (why) => {
          if (settled) return;
          settled = true;
          status.textContent = why;
          fallback.hidden = false;
        };
        window.addEventListener('message', (event) => {
          if (event.origin !== partner || !event.data || event.data.source !== 'astrato-simulator') return;
          if (event.data.signedIn) {
            settled = true;
            status.textContent = 'Signed in to analytics as ' + event.data.email;
            status.dataset.signedIn = 'true';
            // A shared browser can still hold the previous person's analytics session: say so.
            if (String(event.data.email).toLowerCase() !== me) {
              const mismatch = document.getElementById('mismatch');
              mismatch.textContent = 'The dashboard is signed in as ' + event.data.email + ', not as ' + me + '. Open analytics again to sign in as yourself.';
              mismatch.hidden = false;
            }
          } else {
            offerFallback('The dashboard frame is not signed in.');
          }
        });
        // Never a silent blank frame: no word from the frame in time means the same.
        setTimeout(() => offerFallback('The dashboard did not answer.'), 5000);`,
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
    if (brokerResponse.status !== 201 || typeof body.embedUrl !== 'string') {
      // The broker's problem details are meant for people: pass them on (never the key).
      sendJson(response, brokerResponse.status >= 400 ? brokerResponse.status : 502, {
        status: brokerResponse.status,
        code: typeof body.code === 'string' ? body.code : 'unexpected',
        detail: typeof body.detail === 'string' ? body.detail : 'the broker answered unexpectedly',
      });
      return;
    }
    sendJson(
      response,
      200,
      { embedUrl: body.embedUrl, expiresAt: body.expiresAt },
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
        case 'GET /analytics':
          return analytics(response, user);
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
