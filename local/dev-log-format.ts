/**
 * The short lines `npm start` prints by default (docs/design.md "Local stack"), made from the
 * functions' own log records: one line per request (the API's access line), one per refresher run
 * (its run summary), and one per warning or error. Pure functions over plain records, so that
 * what a person reads is derived from, and never adds to, what the functions log on Lambda.
 */

/**
 * One of the functions' log records as Powertools prints it: the JSON line parsed, after the
 * redacting replacer (so nothing here can show what the JSON line would not).
 */
export type LogRecord = Readonly<Record<string, unknown>>;

export interface DevLineOptions {
  /** ANSI colours, for a terminal only ({@link wantsColour}). */
  readonly colour: boolean;
  /**
   * The IANA time zone a record's time is shown in, as HH:MM:SS.
   * @default the machine's own, as a dev server shows the time
   */
  readonly timeZone?: string;
}

/** A warning of the Node process itself (its `warning` event), e.g. the AWS SDK's on Node 20. */
export interface ProcessWarning {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

const ANSI = { reset: '\x1b[0m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m' };
type Paint = Exclude<keyof typeof ANSI, 'reset'>;

function paint(text: string, colour: Paint, options: DevLineOptions): string {
  return options.colour ? `${ANSI[colour]}${text}${ANSI.reset}` : text;
}

/**
 * Whether lines written to `stream` get colours: only on a terminal, and never when `NO_COLOR` is
 * set to anything but the empty string.
 * @see https://no-color.org/
 */
export function wantsColour(
  stream: { readonly isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/** One formatter per time zone: building one costs far more than formatting with it. */
const clocks = new Map<string | undefined, Intl.DateTimeFormat>();

function clockTime(at: Date, timeZone: string | undefined): string {
  let clock = clocks.get(timeZone);
  if (!clock) {
    clock = new Intl.DateTimeFormat('en-GB', {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      ...(timeZone ? { timeZone } : {}),
    });
    clocks.set(timeZone, clock);
  }
  return clock.format(at);
}

function timeOf(record: LogRecord, options: DevLineOptions): string {
  const at = typeof record.timestamp === 'string' ? new Date(record.timestamp) : undefined;
  const text = at && !Number.isNaN(at.getTime()) ? clockTime(at, options.timeZone) : '--:--:--';
  return paint(text, 'dim', options);
}

/** Text from a record on one line: an upstream's message may hold line breaks or control characters. */
function oneLine(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '?')
    .trim();
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? oneLine(value) : undefined;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** `name=value` for each value a record has, in order; those it lacks are left out. */
function pairs(entries: readonly (readonly [string, string | undefined])[]): string[] {
  return entries.flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${value}`]));
}

function statusColour(status: number): Paint {
  if (status >= 500) return 'red';
  if (status >= 400) return 'yellow';
  return 'green';
}

/**
 * The API's access line (`request`, shared/http/api.ts): method, path, status, duration, then the
 * caller as its key id, the connection and where the token came from, as far as the record has
 * them, and for a refusal its code and why.
 */
function requestLine(record: LogRecord, options: DevLineOptions): string {
  const status = count(record.status);
  const code = text(record.code);
  return [
    timeOf(record, options),
    text(record.method) ?? '-',
    text(record.path) ?? '-',
    paint(String(status), statusColour(status), options),
    `${count(record.durationMs)}ms`,
    ...pairs([
      ['caller', text(record.caller)],
      ['connection', text(record.connection)],
      ['token', text(record.tokenOrigin)],
      ['code', code],
      ['error', text(record.errorCode) !== code ? text(record.errorCode) : undefined],
      ['auth', text(record.authFailure)],
    ]),
  ].join(' ');
}

/** The refresher's run summary (`refresh run`, shared/runtime/refresher-function.ts). */
function refreshLine(record: LogRecord, options: DevLineOptions): string {
  const failed = count(record.failed);
  const notReached = count(record.notReached);
  const failing = Array.isArray(record.failedConnections)
    ? record.failedConnections.flatMap((connection) => text(connection) ?? []).join(',')
    : '';
  const summary = [
    `renewed=${count(record.renewed)}`,
    `fresh=${count(record.fresh)}`,
    `failed=${failed}`,
    ...(notReached > 0 ? [`notReached=${notReached}`] : []),
    ...(failing ? [`failing=${failing}`] : []),
  ].join(' ');
  const line = `refresh ${summary} (${count(record.durationMs)}ms)`;
  return `${timeOf(record, options)} ${failed + notReached > 0 ? paint(line, 'yellow', options) : line}`;
}

/**
 * A warning or an error: its level and message, then what names the case (connection, caller,
 * code, the finer cause) and the error's own message, on one line.
 */
function problemLine(record: LogRecord, level: string, options: DevLineOptions): string {
  const error = typeof record.error === 'object' && record.error !== null ? (record.error as LogRecord) : {};
  // A refresh outcome carries its public code as `error`; other lines as `code` or inside `error`.
  const code = text(record.code) ?? text(record.error) ?? text(error.code);
  const detail = [
    text(record.message) ?? '',
    ...pairs([
      ['connection', text(record.connection)],
      ['caller', text(record.caller)],
      ['code', code],
      ['cause', text(record.cause)],
    ]),
  ].join(' ');
  const why = text(error.message);
  const line = `${level} ${detail}${why ? `: ${why}` : ''}`;
  return `${timeOf(record, options)} ${paint(line, level === 'WARN' ? 'yellow' : 'red', options)}`;
}

/**
 * The short line for one of the functions' log records, or `undefined` for a record the default
 * output leaves out (every other INFO or DEBUG line: `--json-logs` shows them all).
 *
 * @example
 * devLine({ level: 'INFO', message: 'request', timestamp: '2026-12-02T10:14:38.123Z', method: 'POST',
 *   path: '/v1/tickets', status: 201, durationMs: 54, caller: 'M2VT7fBom95IH0Zo',
 *   connection: 'astrato', tokenOrigin: 'l1' }, { colour: false });
 * // '10:14:38 POST /v1/tickets 201 54ms caller=M2VT7fBom95IH0Zo connection=astrato token=l1' (in UTC)
 */
export function devLine(record: LogRecord, options: DevLineOptions): string | undefined {
  const level = text(record.level) ?? 'INFO';
  if (level === 'WARN' || level === 'ERROR' || level === 'CRITICAL')
    return problemLine(record, level, options);
  if (level !== 'INFO') return undefined;
  if (record.message === 'request' && typeof record.status === 'number') return requestLine(record, options);
  if (record.message === 'refresh run') return refreshLine(record, options);
  return undefined;
}

/**
 * The short line for something said beside the functions' records, by the Node process or by a
 * library writing to the console itself (Powertools Metrics): its level, where it comes from, and
 * its text on one line.
 */
export function noticeLine(
  notice: { readonly level: 'WARN' | 'ERROR'; readonly source: string; readonly text: string },
  at: Date,
  options: DevLineOptions,
): string {
  const line = `${notice.level} ${notice.source}: ${oneLine(notice.text)}`;
  return `${timeOf({ timestamp: at.toISOString() }, options)} ${paint(line, notice.level === 'WARN' ? 'yellow' : 'red', options)}`;
}

/**
 * The short line for a warning of the Node process: its first paragraph (the AWS SDK's
 * NodeVersionSupportWarning runs to seven lines), shown as a warning from `node`.
 */
export function warningLine(warning: ProcessWarning, at: Date, options: DevLineOptions): string {
  const first = warning.message.split(/\n\s*\n/)[0] ?? '';
  const name = warning.name === 'Warning' ? '' : `${warning.name}: `;
  const code = warning.code ? ` (${warning.code})` : '';
  return noticeLine({ level: 'WARN', source: 'node', text: `${name}${first}${code}` }, at, options);
}
