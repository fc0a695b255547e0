import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Telemetry } from './ports';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * The CloudWatch namespace of the broker's metrics: the one source for the functions (when
 * `POWERTOOLS_METRICS_NAMESPACE` is not set) and for the CDK app's dashboard and alarms, which
 * derive each deployment's own namespace from it (infra/names.ts).
 */
export const METRICS_NAMESPACE = 'TicketBroker';

/**
 * Telemetry over Powertools Metrics (CloudWatch EMF). Metrics without dimensions are buffered and
 * flushed once per invocation; metrics with dimensions go out as single-metric lines, which keeps
 * per-connection series without mixing dimension sets in one EMF document. A single metric builds
 * a Metrics instance (measured at ~10% of a warm ticket's CPU), so per-request metrics must not
 * carry dimensions: dimensions are for rare events (acquisitions, failures, refresh outcomes).
 */
export function metricsTelemetry(metrics: Metrics): Telemetry {
  const emit = (metric: string, unit: Unit, value: number, dimensions?: Readonly<Record<string, string>>) => {
    if (dimensions && Object.keys(dimensions).length > 0) {
      const single = metrics.singleMetric();
      for (const [name, dimensionValue] of Object.entries(dimensions))
        single.addDimension(name, dimensionValue);
      single.addMetric(metric, unit, value);
      return;
    }
    metrics.addMetric(metric, unit, value);
  };
  return {
    count: (metric, value = 1, dimensions) => emit(metric, MetricUnit.Count, value, dimensions),
    timing: (metric, milliseconds, dimensions) =>
      emit(metric, MetricUnit.Milliseconds, milliseconds, dimensions),
  };
}
