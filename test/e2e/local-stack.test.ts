import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type RunningChild, startChild } from '../support/child-process';
import { eventually } from '../support/eventually';
import { writeOrdersConfig } from '../support/local-config';

/**
 * `npm start` as a user runs it: the entry point as a child process, its banner, a ticket issued
 * with the printed key, a vended OMS token used against the OMS stand-in, `/status`, then Ctrl-C
 * (SIGINT) and nothing left listening. Also: a bad configuration, state kept with --data-dir, and
 * what it prints: nothing before the banner, then short lines, or with --json-logs Lambda's lines.
 */
const BANNER_START = 'ticket-broker local stack is up';
const BANNER_END = /Press Ctrl-C to stop\./;
/** A short line starts with the time of what it reports. */
const SHORT_LINE = /^\d\d:\d\d:\d\d \S/;

function start(env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<RunningChild> {
  return startChild(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts', ...args],
    new RegExp(`(${BANNER_END.source})`),
    {
      env: { ...process.env, TICKET_BROKER_PORTS: 'ephemeral', ...env },
      timeoutMs: 60_000,
    },
  );
}

function field(banner: string, label: string): string {
  const match = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(banner);
  if (!match?.[1]) throw new Error(`no "${label}" in the banner:\n${banner}`);
  return match[1];
}

function portsOf(banner: string): number[] {
  return [...banner.matchAll(/http:\/\/(?:127\.0\.0\.1|localhost):(\d+)/g)].map((m) => Number(m[1]));
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Runs the banner's "Manage callers" lines exactly as printed, in a shell whose environment has
 * nothing else of AWS (no region, no credentials, no profile, no config files): what an operator
 * with no AWS account has. Extra arguments replace `list`.
 */
async function callersAsPrinted(banner: string, args?: string): Promise<{ code: number; output: string }> {
  const exportLine = /^\s+(export AWS_ENDPOINT_URL_DYNAMODB=.*)$/m.exec(banner)?.[1];
  const command = /^\s+(npm run callers -- list)$/m.exec(banner)?.[1];
  if (!exportLine || !command) throw new Error(`no callers environment in the banner:\n${banner}`);
  const home = mkdtempSync(join(tmpdir(), 'tb-home-'));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      '/bin/sh',
      ['-c', `${exportLine}\n${args ? command.replace(/list$/, args) : command}`],
      {
        cwd: process.cwd(),
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          AWS_CONFIG_FILE: join(home, 'none'),
          AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        },
        timeout: 60_000,
      },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

async function interrupt(child: RunningChild): Promise<number | null> {
  if (child.process.exitCode !== null) return child.process.exitCode;
  const exited = new Promise<number | null>((resolve) => child.process.once('exit', (code) => resolve(code)));
  child.process.kill('SIGINT');
  return exited;
}

/** Ctrl-C, then the ports the banner listed that still answer (none, if it cleaned up). */
async function interruptAndListOpenPorts(child: RunningChild, banner: string): Promise<number[]> {
  await interrupt(child);
  const open = await Promise.all(
    portsOf(banner).map(async (port) => ((await isListening(port)) ? port : undefined)),
  );
  return open.filter((port) => port !== undefined);
}

/** What the process printed before its banner (stdout and stderr). */
function beforeBanner(output: string): string {
  const at = output.indexOf(BANNER_START);
  if (at < 0) throw new Error(`no banner in:\n${output}`);
  return output.slice(0, at);
}

/** The lines printed after the banner's last line, empty ones left out. */
function linesAfterBanner(output: string): string[] {
  const end = BANNER_END.exec(output);
  if (!end) throw new Error(`no banner in:\n${output}`);
  return output
    .slice(end.index + end[0].length)
    .split('\n')
    .filter((line) => line.trim() !== '');
}

describe('npm start', () => {
  it('brings up the whole product, serves the documented flows, and stops cleanly on Ctrl-C', async () => {
    const stack = await start();
    const banner = stack.output();
    const api = field(banner, 'Broker API').replace(/\/v1$/, '');
    const omsApi = field(banner, 'OMS API');
    const key = /^\s+(tb_\S+)$/m.exec(banner)?.[1] ?? '';
    expect(key).toMatch(/^tb_/);
    expect(banner).toContain(`curl -s -X POST ${api}/v1/tickets -H 'Authorization: Bearer ${key}'`);
    for (const label of [
      'Demo SaaS page',
      'Demo, cross-site',
      'Astrato sim',
      'Keycloak token',
      'DynamoDB',
      'Secrets Manager',
    ]) {
      expect(field(banner, label)).toMatch(/^http:\/\//);
    }

    // The banner's curl line, done with fetch.
    const ticket = await fetch(`${api}/v1/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', groupIds: ['sales'] }),
    });
    expect(ticket.status).toBe(201);
    expect(ticket.headers.get('apigw-requestid')).toBeTruthy();
    const { embedUrl } = (await ticket.json()) as { embedUrl: string };
    expect(embedUrl).toContain('/auth/proxy/oem/ticket/');

    const token = await fetch(`${api}/v1/connections/oms/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(token.status).toBe(200);
    const { access_token: accessToken } = (await token.json()) as { access_token: string };
    const oms = await fetch(omsApi, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(await oms.text()).toBe('Hello ! Welcome to the Astoreshop OMS API');

    const status = await fetch(`${api}/v1/connections/oms/status`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const body = (await status.json()) as { token: { state: string }; lastRefresh: { ok: boolean } };
    expect(body.token.state).toBe('fresh');
    expect(body.lastRefresh.ok).toBe(true); // the refresher ran at start

    // The banner's callers lines, as printed, list this stack's development caller.
    const listed = await callersAsPrinted(banner);
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.output).toMatch(new RegExp(`${key.split('_')[1]}\\s+active\\s+\\S+\\s+local development`));

    const refused = await fetch(`${api}/v1/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', groupIds: ['admins'] }),
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');

    const ports = portsOf(banner);
    expect(ports.length).toBeGreaterThanOrEqual(6);
    expect(await interrupt(stack)).toBe(0);
    expect(stack.output()).toContain('stopped; nothing left listening.');
    const stillOpen = (
      await Promise.all(ports.map(async (port) => ((await isListening(port)) ? port : undefined)))
    ).filter((port) => port !== undefined);
    expect(stillOpen).toEqual([]);
  }, 90_000);

  it('the callers commands as printed: expiry, source networks, rotation, update, last use, the audit trail', async () => {
    const stack = await start();
    try {
      const banner = stack.output();
      const api = field(banner, 'Broker API').replace(/\/v1$/, '');
      const devKey = /^\s+(tb_\S+)$/m.exec(banner)?.[1] ?? '';
      const ticket = (key: string) =>
        fetch(`${api}/v1/tickets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'ada@example.com', groupIds: ['sales'] }),
        });
      const created = async (args: string) => {
        const result = await callersAsPrinted(banner, args);
        expect(result).toMatchObject({ code: 0 });
        const [, key = '', keyId = ''] = /^(tb_([A-Za-z0-9]{16})_\S+)$/m.exec(result.output) ?? [];
        return { key, keyId, output: result.output };
      };
      expect((await ticket(devKey)).status).toBe(201);

      // Requests to the local stack come from 127.0.0.1: a key held to another network is refused.
      const elsewhere = await created(
        'create --name Elsewhere --connection astrato --groups sales --email-domains example.com --expires-in 90d --source-cidrs 203.0.113.0/24',
      );
      expect(elsewhere.output).toMatch(/^expires: \d{4}-\d\d-\d\dT/m);
      expect(elsewhere.output).toContain('source networks: 203.0.113.0/24');
      const refused = await ticket(elsewhere.key);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('forbidden');
      const bad = await callersAsPrinted(banner, `update ${elsewhere.keyId} --source-cidrs 203.0.113.0/33`);
      expect(bad.code).toBe(1);
      // One line naming what is wrong (npm's own header lines aside).
      expect(bad.output.split('\n').filter((entry) => entry.startsWith('callers:'))).toEqual([
        'callers: --source-cidrs: "203.0.113.0/33": the prefix length must be a number from 0 to 32',
      ]);
      const updated = await callersAsPrinted(banner, `update ${elsewhere.keyId} --any-source`);
      expect(updated.output).toContain(`caller ${elsewhere.keyId}: source networks any`);

      const local = await created(
        'create --name Local --connection astrato --groups sales --email-domains example.com --source-cidrs 127.0.0.0/8,::1',
      );
      expect((await ticket(local.key)).status).toBe(201);
      const rotated = await created(`rotate ${local.keyId} --overlap 0`);
      expect(rotated.output).toContain(`replacing ${local.keyId}`);
      expect(rotated.output).toContain('source networks: 127.0.0.0/8, ::1/128');
      expect((await ticket(rotated.key)).status).toBe(201);

      const list = await callersAsPrinted(banner, 'list');
      const line = (keyId: string) => list.output.split('\n').find((entry) => entry.startsWith(keyId)) ?? '';
      // Only refused for its network so far: not a use of the key (the audit trail has the refusal).
      expect(line(elsewhere.keyId)).toMatch(/active .* expires:\d{4}-.* last-used:never/);
      expect(line(local.keyId)).toMatch(
        new RegExp(`EXPIRED .* from:127\\.0\\.0\\.0/8\\|::1/128 .*replaced-by:${rotated.keyId}`),
      );
      expect(line(rotated.keyId)).toMatch(new RegExp(`active .* replaces:${local.keyId}`));
      expect(line(devKey.split('_')[1] ?? '')).toMatch(/local development .* last-used:\d{4}-/);

      const audit = await callersAsPrinted(banner, 'audit --since 1h');
      expect(audit).toMatchObject({ code: 0 });
      const outcomes = audit.output
        .split('\n')
        .filter((entry) => /^\d{4}-/.test(entry))
        .map((entry) => `${/caller=(\S+)/.exec(entry)?.[1]} ${entry.split('  ')[1]}`);
      expect(outcomes).toEqual([
        `${devKey.split('_')[1]} ticket_issued`,
        `${elsewhere.keyId} forbidden`,
        `${local.keyId} ticket_issued`,
        `${rotated.keyId} ticket_issued`,
      ]);
      const mine = await callersAsPrinted(banner, `audit --caller ${elsewhere.keyId} --json`);
      expect(JSON.parse(mine.output.slice(mine.output.indexOf('[')))).toEqual([
        expect.objectContaining({ outcome: 'forbidden', sourceIp: expect.stringMatching(/127\.0\.0\.1$/) }),
      ]);
      expect(audit.output).not.toContain('tb_');
    } finally {
      await interrupt(stack);
    }
  }, 120_000);

  it('refuses a bad configuration with one message naming the field, and a non-zero exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-start-'));
    const config = join(dir, 'connections.json');
    writeFileSync(
      config,
      JSON.stringify({
        connections: {
          oms: {
            kind: 'oauth2-client-credentials',
            tokenUrl: 'http://example.com/token',
            clientAuth: 'client_secret_post',
            secretId: 'x',
          },
        },
      }),
    );
    try {
      await expect(start({ TICKET_BROKER_CONFIG: config })).rejects.toThrow(
        /exited with 1[\s\S]*connections\.oms\.tokenUrl: must use https/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('with no astrato connection: a token example instead of a ticket one, the demo off, callers as printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-tokens-only-'));
    // Nothing listens at the token URL: the refresher fails at start, which the banner does not hide.
    const { configPath: config, secretsPath: secrets } = writeOrdersConfig(
      dir,
      'http://127.0.0.1:9/realms/x/protocol/openid-connect/token',
      { clientId: 'c', clientSecret: 's' },
    );
    try {
      const stack = await start({ TICKET_BROKER_CONFIG: config, TICKET_BROKER_SECRETS: secrets });
      try {
        const banner = stack.output();
        const api = field(banner, 'Broker API').replace(/\/v1$/, '');
        const key = /^\s+(tb_\S+)$/m.exec(banner)?.[1] ?? '';
        expect(banner).toMatch(/^\s+Demo SaaS page\s+off \(the configuration has no astrato-oem connection/m);
        expect(banner).not.toContain('Demo, cross-site');
        expect(banner).not.toContain('/v1/tickets');
        expect(banner).toContain(
          `curl -s -X POST ${api}/v1/connections/orders/token -H 'Authorization: Bearer ${key}'`,
        );
        expect(banner).toContain(`TICKET_BROKER_CONFIG=${config}`);
        // The printed environment carries the configuration: `create` knows the connection "orders".
        const created = await callersAsPrinted(banner, 'create --name reader --connection orders --tokens');
        expect(created).toMatchObject({ code: 0 });
        expect(created.output).toContain('"orders":{"tickets":false,"tokens":true');

        // The refresher failed while the stack started: said after the banner, never before it, as
        // one line per warning and error, and its run line naming the connection.
        expect(beforeBanner(stack.output()).trim()).toBe('');
        const lines = await eventually(async () => {
          const after = linesAfterBanner(stack.output());
          if (!after.some((line) => / refresh renewed=/.test(line))) throw new Error('no refresher run yet');
          return after;
        });
        expect(lines).toContainEqual(
          expect.stringMatching(
            /^\d\d:\d\d:\d\d ERROR token refresh failed connection=orders code=upstream_unavailable: \S/,
          ),
        );
        expect(lines).toContainEqual(
          expect.stringMatching(/^\d\d:\d\d:\d\d WARN token acquisition failed connection=orders /),
        );
        expect(lines).toContainEqual(
          expect.stringMatching(
            /^\d\d:\d\d:\d\d refresh renewed=0 fresh=0 failed=1 failing=orders \(\d+ms\)$/,
          ),
        );
        expect(lines.filter((line) => !SHORT_LINE.test(line))).toEqual([]);
      } finally {
        await interrupt(stack);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('keeps state across a restart with --data-dir: the same development key still works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-data-'));
    try {
      const first = await start({}, ['--data-dir', dir]);
      const key = /^\s+(tb_\S+)$/m.exec(first.output())?.[1];
      expect(await interrupt(first)).toBe(0);
      const second = await start({}, ['--data-dir', dir]);
      try {
        expect(/^\s+(tb_\S+)$/m.exec(second.output())?.[1]).toBe(key);
        expect(second.output()).toContain(`kept in ${dir}`);
        const api = field(second.output(), 'Broker API').replace(/\/v1$/, '');
        // The caller record survived in the table: the same key still works.
        const ticket = await fetch(`${api}/v1/tickets`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'again@example.com', groupIds: ['sales'] }),
        });
        expect(ticket.status).toBe(201);
      } finally {
        await interrupt(second);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  describe('what it prints', () => {
    const issueTicket = (api: string, key: string) =>
      fetch(`${api}/v1/tickets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'ada@example.com', groupIds: ['sales'] }),
      });

    /** `npm start` with these arguments, and a ticket requested with the key its banner prints. */
    async function startAndIssueTicket(args: string[]) {
      const stack = await start({}, args);
      const banner = stack.output();
      const key = /^\s+(tb_\S+)$/m.exec(banner)?.[1] ?? '';
      try {
        const api = field(banner, 'Broker API').replace(/\/v1$/, '');
        const { status } = await issueTicket(api, key);
        return { stack, banner, key, keyId: key.split('_')[1] ?? '', status };
      } catch (error) {
        await interrupt(stack);
        throw error;
      }
    }

    it('by default: nothing before the banner, then one short line per request and per refresher run', async () => {
      const { stack, banner, key, keyId, status } = await startAndIssueTicket(['--refresh-interval', '1']);
      let openAfterStop: number[] = [];
      try {
        expect(beforeBanner(banner).trim()).toBe('');
        expect(status).toBe(201);

        // The request's line, then a run of the refresher's timer after it.
        const lines = await eventually(async () => {
          const after = linesAfterBanner(stack.output());
          const request = after.findIndex((line) => line.includes(' POST /v1/tickets 201 '));
          if (request < 0 || !after.slice(request).some((line) => / refresh renewed=/.test(line)))
            throw new Error(`no request and refresher lines yet:\n${after.join('\n')}`);
          return after;
        });
        expect(lines.filter((line) => line.includes('/v1/tickets'))).toEqual([
          expect.stringMatching(
            new RegExp(
              `^\\d\\d:\\d\\d:\\d\\d POST /v1/tickets 201 \\d+ms caller=${keyId} connection=astrato token=(l1|l2|waited|acquired)$`,
            ),
          ),
        ]);
        expect(lines).toContainEqual(
          expect.stringMatching(/^\d\d:\d\d:\d\d refresh renewed=\d+ fresh=\d+ failed=0 \(\d+ms\)$/),
        );
        // Nothing but short lines: no JSON line, no colour (not a terminal), never the key.
        expect(lines.filter((line) => !SHORT_LINE.test(line))).toEqual([]);
        expect(lines.filter((line) => line.includes('{') || line.includes('\x1b['))).toEqual([]);
        expect(lines.join('\n')).not.toContain(key);
      } finally {
        openAfterStop = await interruptAndListOpenPorts(stack, banner);
      }
      // After the try, so that a failure inside it is the one reported.
      expect(openAfterStop).toEqual([]);
    }, 90_000);

    it('--json-logs: the same events as the JSON objects Lambda prints, after the banner', async () => {
      const { stack, banner, key, keyId, status } = await startAndIssueTicket([
        '--json-logs',
        '--refresh-interval',
        '1',
      ]);
      let openAfterStop: number[] = [];
      try {
        expect(beforeBanner(banner).trim()).toBe('');
        expect(status).toBe(201);

        // Lambda's stdout: INFO lines (WARN and above go to stderr, as Lambda's console sends them).
        const records = await eventually(async () => {
          const lines = linesAfterBanner(stack.stdout());
          const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
          const request = parsed.findIndex((record) => record.message === 'request' && record.status === 201);
          if (request < 0 || !parsed.slice(request).some((record) => record.message === 'refresh run'))
            throw new Error(`no request and refresher records yet:\n${lines.join('\n')}`);
          return parsed;
        });
        /** What Powertools puts in every line of a function invoked with Lambda's context. */
        const lambdaFields = (service: string) => ({
          level: 'INFO',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          service,
          cold_start: expect.any(Boolean),
          function_arn: expect.stringMatching(new RegExp(`:function:${service}$`)),
          function_memory_size: expect.any(String),
          function_name: service,
          function_request_id: expect.any(String),
          sampling_rate: 0,
        });
        expect(records.filter((record) => record.message === 'request')).toEqual([
          {
            ...lambdaFields('issue-ticket'),
            message: 'request',
            requestId: expect.any(String),
            caller: keyId,
            connection: 'astrato',
            tokenOrigin: expect.stringMatching(/^(l1|l2|waited|acquired)$/),
            method: 'POST',
            path: '/v1/tickets',
            status: 201,
            durationMs: expect.any(Number),
          },
        ]);
        expect(records).toContainEqual({
          ...lambdaFields('refresh-tokens'),
          message: 'refresh run',
          connections: 2,
          renewed: expect.any(Number),
          fresh: expect.any(Number),
          failed: 0,
          notReached: 0,
          concurrency: expect.any(Number),
          durationMs: expect.any(Number),
          failedConnections: [],
        });
        // JSON only, and no short line anywhere in the output.
        expect(linesAfterBanner(stack.output()).filter((line) => SHORT_LINE.test(line))).toEqual([]);
        expect(linesAfterBanner(stack.output()).join('\n')).not.toContain(key);
      } finally {
        openAfterStop = await interruptAndListOpenPorts(stack, banner);
      }
      // After the try, so that a failure inside it is the one reported.
      expect(openAfterStop).toEqual([]);
    }, 90_000);
  });
});
