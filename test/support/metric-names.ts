import type { Template } from 'aws-cdk-lib/assertions';
import { render } from '../infra/support';

/** One metric a dashboard widget or an alarm reads. */
export interface MetricRead {
  /** Where it is read: an alarm's or widget's name. */
  readonly where: string;
  readonly namespace: string;
  readonly metricName: string;
  /** The dimension names the read asks for (a SEARCH's schema, or the metric's own). */
  readonly dimensionNames: readonly string[];
  /** Dimension values the read fixes (`service="issue-ticket"`); tokens rendered. */
  readonly dimensions: Readonly<Record<string, string>>;
}

/** One metric series the code wrote, from its CloudWatch embedded metric format lines. */
export interface MetricWritten {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** A dashboard metric: `[namespace, name, dim, value, ..., options]`, or `[{ expression }]`. */
type DashboardMetric = (string | Record<string, unknown>)[];

/** `SEARCH('{Namespace,Dim1,Dim2} MetricName="X" dim="v"', ...)`, inside any metric math. */
function searchesIn(expression: string, where: string): MetricRead[] {
  const reads: MetricRead[] = [];
  for (const match of expression.matchAll(/SEARCH\('\s*\{([^}]*)\}([^']*)'/g)) {
    const [namespace = '', ...dimensionNames] = (match[1] ?? '').split(',').map((part) => part.trim());
    const terms = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((term) => [
        term[1] as string,
        term[2] as string,
      ]),
    );
    const { MetricName: metricName, ...dimensions } = terms;
    reads.push({ where, namespace, metricName: metricName ?? '(any)', dimensionNames, dimensions });
  }
  return reads;
}

/** Every metric the template's dashboards and alarms read. */
export function metricsReadBy(template: Template): MetricRead[] {
  const reads: MetricRead[] = [];
  for (const [id, resource] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    const properties = (resource as { Properties: Record<string, unknown> }).Properties;
    const where = `alarm ${String(properties.AlarmName ?? id)}`;
    if (typeof properties.MetricName === 'string') {
      const dimensions = Object.fromEntries(
        ((properties.Dimensions ?? []) as { Name: string; Value: unknown }[]).map((d) => [
          d.Name,
          render(d.Value),
        ]),
      );
      reads.push({
        where,
        namespace: String(properties.Namespace),
        metricName: properties.MetricName,
        dimensionNames: Object.keys(dimensions),
        dimensions,
      });
    }
    for (const query of (properties.Metrics ?? []) as {
      Expression?: string;
      MetricStat?: {
        Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string; Value: unknown }[] };
      };
    }[]) {
      if (query.Expression) reads.push(...searchesIn(query.Expression, where));
      if (query.MetricStat) {
        const { Metric } = query.MetricStat;
        const dimensions = Object.fromEntries(
          (Metric.Dimensions ?? []).map((d) => [d.Name, render(d.Value)]),
        );
        reads.push({
          where,
          namespace: Metric.Namespace,
          metricName: Metric.MetricName,
          dimensionNames: Object.keys(dimensions),
          dimensions,
        });
      }
    }
  }
  for (const resource of Object.values(template.findResources('AWS::CloudWatch::Dashboard'))) {
    const body = JSON.parse(
      render((resource as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody),
    ) as {
      widgets: { properties: { title?: string; metrics?: DashboardMetric[] } }[];
    };
    for (const widget of body.widgets) {
      const where = `widget "${widget.properties.title ?? '(untitled)'}"`;
      for (const entry of widget.properties.metrics ?? []) {
        const [first] = entry;
        if (typeof first === 'object' && first !== null && 'expression' in first) {
          reads.push(...searchesIn(String(first.expression), where));
          continue;
        }
        const parts: string[] = entry.filter((part): part is string => typeof part === 'string');
        const [namespace = '', metricName = '', ...pairs] = parts;
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
        reads.push({ where, namespace, metricName, dimensionNames: Object.keys(dimensions), dimensions });
      }
    }
  }
  return reads;
}

/** The metric series in CloudWatch embedded metric format lines (any other line is skipped). */
export function metricsWrittenIn(lines: readonly Record<string, unknown>[]): MetricWritten[] {
  const written: MetricWritten[] = [];
  for (const line of lines) {
    const aws = line._aws as
      | { CloudWatchMetrics?: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }
      | undefined;
    for (const directive of aws?.CloudWatchMetrics ?? []) {
      for (const dimensionSet of directive.Dimensions.length > 0 ? directive.Dimensions : [[]]) {
        const dimensions = Object.fromEntries(dimensionSet.map((name) => [name, String(line[name])]));
        for (const metric of directive.Metrics)
          written.push({ namespace: directive.Namespace, metricName: metric.Name, dimensions });
      }
    }
  }
  return written;
}

/**
 * The reads in `namespace` that no written series satisfies: same name, exactly the dimension
 * names the read asks for, and the values it fixes.
 */
export function unmatchedReads(
  reads: readonly MetricRead[],
  written: readonly MetricWritten[],
  namespace: string,
): MetricRead[] {
  return reads
    .filter((read) => read.namespace === namespace)
    .filter(
      (read) =>
        !written.some(
          (series) =>
            series.namespace === read.namespace &&
            series.metricName === read.metricName &&
            sameNames(Object.keys(series.dimensions), read.dimensionNames) &&
            Object.entries(read.dimensions).every(([name, value]) => series.dimensions[name] === value),
        ),
    );
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}
