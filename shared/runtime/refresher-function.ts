import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { DynamoStatusStore } from '../status/status-store';
import { refreshPolicyFrom } from '../tokens/refresh-policy';
import { createRefresher, RefreshIncompleteError, type RefreshSummary } from '../use-cases/refresh-tokens';
import { invocationDeadline, startDeadline } from './deadline';
import type { Runtime } from './runtime';

/**
 * The scheduled refresher wired from a runtime: what `functions/refresh-tokens/handler.ts` exports.
 * A run fails when a connection is left without a usable token: that is what the refresher alarm
 * counts and what sends the run to the dead-letter queue. It is not retried: the next scheduled
 * run, a minute later, tries again.
 */
export function refresherFunction(runtime: Runtime) {
  const { config, tableName, clock, logger, metrics, telemetry, documentClient, tokens } = runtime;
  const refresher = createRefresher({
    connections: config.connections,
    tokens,
    status: new DynamoStatusStore({ client: documentClient, tableName }),
    policy: refreshPolicyFrom(config.refresh),
    clock,
    log: logger,
    telemetry,
  });
  return middy<unknown, RefreshSummary>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(async (_event: unknown, context: Context, { signal }: { signal?: AbortSignal } = {}) => {
      const deadline = startDeadline(
        invocationDeadline(context, clock, { marginMs: 2000, minimumMs: 1000, fallbackRemainingMs: 30_000 }),
        clock,
        signal,
      );
      let summary: RefreshSummary;
      try {
        summary = await refresher.run(deadline);
      } finally {
        deadline.dispose();
      }
      logger.info('refresh run', {
        renewed: summary.renewed,
        fresh: summary.fresh,
        failed: summary.failed,
        results: summary.results,
      });
      if (summary.unusable.length > 0) throw new RefreshIncompleteError(summary.unusable);
      return summary;
    });
}
