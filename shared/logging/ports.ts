/**
 * The two ports every part of the broker reports through, whatever it is: the token engine, the
 * upstream clients, the caller checks, the use-cases, the dependency guard. Powertools' Logger and
 * Metrics (behind `metricsTelemetry`) implement them in the functions; tests pass small recorders.
 */

/** Structured log lines; Powertools' Logger satisfies it. */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

/** Counters and timings; Powertools' Metrics (EMF) behind it in production (`metricsTelemetry`). */
export interface Telemetry {
  count(metric: string, value?: number, dimensions?: Readonly<Record<string, string>>): void;
  timing(metric: string, milliseconds: number, dimensions?: Readonly<Record<string, string>>): void;
}

/** A log that writes nothing: the default where a caller passes none. */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
/** Telemetry that records nothing: the default where a caller passes none. */
export const noTelemetry: Telemetry = { count() {}, timing() {} };
