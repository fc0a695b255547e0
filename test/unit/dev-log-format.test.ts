import {
  type DevLineOptions,
  devLine,
  type LogRecord,
  noticeLine,
  wantsColour,
  warningLine,
} from '../../local/dev-log-format';

/**
 * `npm start`'s short lines, made from records shaped as the functions print them (the access
 * line, the refresher's run line, warnings and errors), in UTC so the expected lines do not depend
 * on the machine's time zone.
 */
const plain: DevLineOptions = { colour: false, timeZone: 'UTC' };
const coloured: DevLineOptions = { colour: true, timeZone: 'UTC' };
const ESC = '\x1b[';

/** What Powertools puts in every line of a function; the short lines leave it out. */
const lambda = {
  timestamp: '2026-12-02T10:14:38.123Z',
  service: 'issue-ticket',
  cold_start: false,
  function_arn: 'arn:aws:lambda:local:000000000000:function:issue-ticket',
  function_memory_size: '512',
  function_name: 'issue-ticket',
  function_request_id: 'fa04c1fe-7a22-492e-92bb-5a336f2b3cf5',
  sampling_rate: 0,
  requestId: 'chYGvb8A50tIzA=',
};
const request = (fields: LogRecord): LogRecord => ({
  level: 'INFO',
  message: 'request',
  ...lambda,
  ...fields,
});

describe('npm start short lines', () => {
  it('a ticket request: time, method, path, status, duration, caller key id, connection, token origin', () => {
    const line = devLine(
      request({
        caller: 'M2VT7fBom95IH0Zo',
        connection: 'astrato',
        tokenOrigin: 'l1',
        method: 'POST',
        path: '/v1/tickets',
        status: 201,
        durationMs: 54,
      }),
      plain,
    );
    expect(line).toBe(
      '10:14:38 POST /v1/tickets 201 54ms caller=M2VT7fBom95IH0Zo connection=astrato token=l1',
    );
  });

  it('a refusal: its code, the finer error code and why authentication failed', () => {
    expect(
      devLine(
        request({
          method: 'POST',
          path: '/v1/tickets',
          status: 401,
          code: 'unauthorized',
          authFailure: 'expired',
          caller: 'Q3vKd8fB1xYz0aB2',
          durationMs: 5,
        }),
        plain,
      ),
    ).toBe('10:14:38 POST /v1/tickets 401 5ms caller=Q3vKd8fB1xYz0aB2 code=unauthorized auth=expired');
    expect(
      devLine(
        request({
          method: 'POST',
          path: '/v1/tickets',
          status: 502,
          code: 'upstream_unavailable',
          errorCode: 'astrato_setup_failed',
          durationMs: 120,
        }),
        plain,
      ),
    ).toBe('10:14:38 POST /v1/tickets 502 120ms code=upstream_unavailable error=astrato_setup_failed');
  });

  it('a refresher run: renewed, fresh, failed and its duration; the failing connections named', () => {
    const run = {
      level: 'INFO',
      message: 'refresh run',
      ...lambda,
      service: 'refresh-tokens',
      connections: 2,
      renewed: 1,
      fresh: 1,
      failed: 0,
      notReached: 0,
      concurrency: 8,
      durationMs: 123,
      failedConnections: [],
    };
    expect(devLine(run, plain)).toBe('10:14:38 refresh renewed=1 fresh=1 failed=0 (123ms)');
    expect(
      devLine({ ...run, renewed: 0, failed: 2, notReached: 1, failedConnections: ['oms', 'orders'] }, plain),
    ).toBe('10:14:38 refresh renewed=0 fresh=1 failed=2 notReached=1 failing=oms,orders (123ms)');
  });

  it('a warning or an error: one line with its message, connection, code and the error it carries', () => {
    expect(
      devLine(
        {
          level: 'WARN',
          message: 'refresh outcome',
          ...lambda,
          connection: 'orders',
          action: 'failed',
          ok: false,
          usable: false,
          error: 'upstream_unavailable',
          durationMs: 40,
        },
        plain,
      ),
    ).toBe('10:14:38 WARN refresh outcome connection=orders code=upstream_unavailable');
    expect(
      devLine(
        {
          level: 'ERROR',
          message: 'token refresh failed',
          ...lambda,
          connection: 'orders',
          code: 'upstream_unavailable',
          cause: 'token_endpoint_unreachable',
          error: {
            name: 'UpstreamUnavailableError',
            code: 'token_endpoint_unreachable',
            message: 'connect ECONNREFUSED\n127.0.0.1:9',
          },
        },
        plain,
      ),
    ).toBe(
      '10:14:38 ERROR token refresh failed connection=orders code=upstream_unavailable cause=token_endpoint_unreachable: connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(
      devLine(
        { level: 'ERROR', message: 'request failed', ...lambda, error: { name: 'TypeError', message: 'x' } },
        plain,
      ),
    ).toBe('10:14:38 ERROR request failed: x');
  });

  it('leaves out every other line, which --json-logs shows', () => {
    for (const record of [
      { level: 'INFO', message: 'token acquired', ...lambda, connection: 'oms', durationMs: 17 },
      {
        level: 'INFO',
        message: 'refresh outcome',
        ...lambda,
        connection: 'oms',
        action: 'renewed',
        ok: true,
      },
      { level: 'DEBUG', message: 'request', ...lambda, status: 200 },
      { level: 'INFO', message: 'Table answers again', ...lambda },
    ]) {
      expect(devLine(record, plain)).toBeUndefined();
    }
  });

  it('keeps a record on one line whatever its text holds', () => {
    const line = devLine(
      { level: 'WARN', message: 'upstream said\r\nHTTP/1.1 200 OK\u0007', ...lambda, connection: 'a\tb' },
      plain,
    );
    expect(line).toBe('10:14:38 WARN upstream said HTTP/1.1 200 OK? connection=a b');
  });

  it("shows the time in the zone it is given (the machine's by default)", () => {
    // UTC+05:30 all year, and a 24-hour clock past noon.
    const line = devLine(
      { level: 'INFO', message: 'refresh run', ...lambda, durationMs: 1 },
      {
        colour: false,
        timeZone: 'Asia/Kolkata',
      },
    );
    expect(line).toBe('15:44:38 refresh renewed=0 fresh=0 failed=0 (1ms)');
    expect(devLine({ level: 'INFO', message: 'refresh run', ...lambda }, { colour: false })).toMatch(
      /^\d\d:\d\d:\d\d refresh /,
    );
  });

  it('highlights warnings, errors and failed statuses in colour, and only when asked to', () => {
    const warn = devLine(
      { level: 'WARN', message: 'last use of a caller key not recorded', ...lambda },
      coloured,
    );
    expect(warn).toBe(`${ESC}2m10:14:38${ESC}0m ${ESC}33mWARN last use of a caller key not recorded${ESC}0m`);
    const error = devLine({ level: 'ERROR', message: 'request failed', ...lambda }, coloured);
    expect(error).toContain(`${ESC}31mERROR request failed${ESC}0m`);
    const refused = devLine(request({ method: 'GET', path: '/v1/x', status: 404, durationMs: 1 }), coloured);
    expect(refused).toContain(` ${ESC}33m404${ESC}0m `);
    const failedRun = devLine({ level: 'INFO', message: 'refresh run', ...lambda, failed: 1 }, coloured);
    expect(failedRun).toContain(`${ESC}33mrefresh renewed=0 fresh=0 failed=1 (0ms)${ESC}0m`);
    for (const record of [
      { level: 'WARN', message: 'm', ...lambda },
      request({ method: 'GET', path: '/', status: 500, durationMs: 1 }),
    ]) {
      expect(devLine(record, plain)).not.toContain(ESC);
    }
  });

  it('colours only a terminal, and never with NO_COLOR set', () => {
    expect(wantsColour({ isTTY: true }, {})).toBe(true);
    expect(wantsColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColour({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(wantsColour({ isTTY: false }, {})).toBe(false);
    expect(wantsColour({}, {})).toBe(false);
  });

  it("Node's warnings and Powertools Metrics' own as one line each", () => {
    const at = new Date(lambda.timestamp);
    const sdk = {
      name: 'Warning',
      message:
        'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after the first week of January 2027\nwill require node >=22. You are running node v20.20.2.\n\nTo continue receiving updates to AWS services, bug fixes,\nand security updates please upgrade to node >=22.',
    };
    expect(warningLine(sdk, at, plain)).toBe(
      '10:14:38 WARN node: NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) versions published after the first week of January 2027 will require node >=22. You are running node v20.20.2.',
    );
    expect(
      warningLine(
        { name: 'DeprecationWarning', message: 'Buffer() is deprecated', code: 'DEP0005' },
        at,
        plain,
      ),
    ).toBe('10:14:38 WARN node: DeprecationWarning: Buffer() is deprecated (DEP0005)');
    expect(
      noticeLine({ level: 'WARN', source: 'metrics', text: 'No application metrics to publish.' }, at, plain),
    ).toBe('10:14:38 WARN metrics: No application metrics to publish.');
  });
});
