/**
 * `Retry-After` (RFC 9110 10.2.3), read from upstreams and written to callers. Whatever an upstream
 * sends, the broker's own value is a whole number of seconds from {@link RETRY_AFTER_MIN_SECONDS}
 * to {@link RETRY_AFTER_MAX_SECONDS}, or absent; its retry policy waits no longer either.
 */

/** The least the broker asks a caller to wait: `Retry-After: 0` would invite a busy loop. */
export const RETRY_AFTER_MIN_SECONDS = 1;
/**
 * The most the broker asks a caller (or itself) to wait. An upstream asking for more is either
 * broken or hostile (`Retry-After: 1e+24`); two minutes is longer than any outage a caller should
 * sit out without asking again.
 */
export const RETRY_AFTER_MAX_SECONDS = 120;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT`: the form senders must use. */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT`: obsolete, still to be accepted. */
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
/** `Sun Nov  6 08:49:37 1994`: obsolete (C's asctime), still to be accepted. */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hour: number, minute: number, second: number) {
  const monthIndex = MONTHS.indexOf(month);
  const time = Date.UTC(year, monthIndex, day, hour, minute, second);
  const date = new Date(time);
  // Date.UTC rolls 31 Feb over into March: such a date is not a date.
  const valid =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === monthIndex &&
    date.getUTCDate() === day &&
    hour < 24 &&
    minute < 60 &&
    second < 61;
  return valid ? time : undefined;
}

/**
 * An HTTP-date in any of the three forms RFC 9110 5.6.7 lists, as epoch ms; `undefined` for
 * anything else (`Date.parse` would also take `-1`, `2026` or local-time strings).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function parseHttpDate(value: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) {
    const [, day, month, year, hour, minute, second] = match;
    return utc(Number(year), month ?? '', Number(day), Number(hour), Number(minute), Number(second));
  }
  match = RFC850_DATE.exec(value);
  if (match) {
    const [, day, month, year, hour, minute, second] = match;
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    let fullYear = Math.floor(thisYear / 100) * 100 + Number(year);
    if (fullYear > thisYear + 50) fullYear -= 100;
    return utc(fullYear, month ?? '', Number(day), Number(hour), Number(minute), Number(second));
  }
  match = ASCTIME_DATE.exec(value);
  if (match) {
    const [, month, day, hour, minute, second, year] = match;
    return utc(Number(year), month ?? '', Number(day?.trim()), Number(hour), Number(minute), Number(second));
  }
  return undefined;
}

/**
 * A wait in milliseconds made safe: `undefined` for anything that is not a finite number of at
 * least 0, otherwise at most {@link RETRY_AFTER_MAX_SECONDS} seconds.
 */
export function boundedRetryAfterMs(ms: number | undefined): number | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(RETRY_AFTER_MAX_SECONDS * 1000, ms);
}

/**
 * Parses an upstream's `Retry-After` into milliseconds from `now`: delay-seconds (digits only) or
 * an HTTP-date. The result is whole seconds from 0 to {@link RETRY_AFTER_MAX_SECONDS}; a value
 * that is neither form (`1e3`, `-5`, `5.5`, `soon`) is ignored (`undefined`).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  // Digits only, so no Number() surprises; a run of digits longer than the cap's is the cap.
  if (/^\d+$/.test(trimmed)) {
    const digits = trimmed.replace(/^0+(?=\d)/, '');
    const seconds = digits.length > 6 ? RETRY_AFTER_MAX_SECONDS : Number(digits);
    return boundedRetryAfterMs(seconds * 1000);
  }
  const date = parseHttpDate(trimmed, now);
  return date === undefined
    ? undefined
    : boundedRetryAfterMs(Math.ceil(Math.max(0, date - now) / 1000) * 1000);
}

/**
 * The `Retry-After` the broker sends for a wait: a whole number of seconds from
 * {@link RETRY_AFTER_MIN_SECONDS} to {@link RETRY_AFTER_MAX_SECONDS}, or `undefined` (no header)
 * when there is no usable wait.
 */
export function retryAfterHeaderSeconds(ms: number | undefined): number | undefined {
  const bounded = boundedRetryAfterMs(ms);
  return bounded === undefined ? undefined : Math.max(RETRY_AFTER_MIN_SECONDS, Math.ceil(bounded / 1000));
}
