import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { invocationDeadline, startDeadline } from '../deadline';
import { DynamoStatusStore } from '../status/status-store';
import { refreshPolicyFrom } from '../tokens/refresh-policy';
import { createRefresher, RefreshIncompleteError, type RefreshSummary } from '../use-cases/refresh-tokens';
import type { Runtime, RuntimeOptions } from './runtime';
import { REFRESH_RUN_TIMEOUT_SECONDS, SECRET_CHECK_MINUTES } from './schedule';

/**
 * How the refresher's runtime is built (the handler passes these to `createRuntime`): its service
 * name, and secrets held for the rotation check period instead of a request container's 5 minutes,
 * so a run where nothing is due reads no secret.
 */
export const REFRESHER_RUNTIME_OPTIONS = {
  serviceName: 'refresh-tokens',
  secretMaxAgeMs: SECRET_CHECK_MINUTES * 60_000,
} as const satisfies RuntimeOptions;

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
    concurrency: config.refresh.concurrency,
  });
  return middy<unknown, RefreshSummary>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler(async (_event: unknown, context: Context, { signal }: { signal?: AbortSignal } = {}) => {
      // Never past the function's timeout, even where the context allows more (local runs): a
      // run ends, and says what it did not reach, before the next scheduled one starts.
      const deadline = startDeadline(
        invocationDeadline(context, clock, {
          marginMs: 2000,
          minimumMs: 1000,
          fallbackRemainingMs: 30_000,
          budgetMs: REFRESH_RUN_TIMEOUT_SECONDS * 1000 - 2000,
        }),
        clock,
        signal,
      );
      let summary: RefreshSummary;
      try {
        summary = await refresher.run(deadline);
      } finally {
        deadline.dispose();
      }
      // Counts only, whatever the number of connections: what each connection did is in its own
      // `refresh outcome` line when it was renewed or failed.
      logger.info('refresh run', {
        connections: summary.results.length + summary.notReached.length,
        renewed: summary.renewed,
        fresh: summary.fresh,
        failed: summary.failed,
        notReached: summary.notReached.length,
        concurrency: summary.concurrency,
        durationMs: summary.durationMs,
        failedConnections: summary.results.filter((result) => !result.ok).map((result) => result.connection),
      });
      if (summary.unusable.length > 0 || summary.notReached.length > 0)
        throw new RefreshIncompleteError(summary.unusable, summary.notReached);
      return summary;
    });
}
