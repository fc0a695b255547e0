/**
 * The refresher's schedule (EventBridge): one run a minute. The stack schedules it from here, and
 * `/status` calls a last run older than two periods overdue.
 */
export const REFRESH_SCHEDULE_MINUTES = 1;

/**
 * The refresher function's timeout, under the period so that runs never overlap: a run that cannot
 * reach every connection in this time stops starting new ones and says so (docs/design.md
 * "Refresher runs"). The stack sets the function's timeout from here.
 */
export const REFRESH_RUN_TIMEOUT_SECONDS = 50;

/**
 * How long the refresher holds a client secret before reading it again: its rotation check. A new
 * secret version is seen within this plus one schedule period, for one `GetSecretValue` (and the
 * KMS decrypt behind it) per connection per period: 1,440 a month, about $0.012. Halving it
 * doubles that; the README's cost section and Deploy step 7 state the bound and its price.
 */
export const SECRET_CHECK_MINUTES = 30;
