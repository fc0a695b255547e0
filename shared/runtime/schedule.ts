/**
 * The refresher's schedule (EventBridge): one run a minute. The stack schedules it from here, and
 * `/status` calls a last run older than two periods overdue.
 */
export const REFRESH_SCHEDULE_MINUTES = 1;
