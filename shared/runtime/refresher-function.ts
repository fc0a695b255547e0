import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { invocationDeadline, startDeadline } from '../deadline';
import { problemCodeOf } from '../http/problem';
import { DynamoStatusStore } from '../status/dynamo-status-store';
import { RefreshingTokenSource } from '../tokens/refreshing-token-source';
import { type TokenProbe, tokenProbes } from '../upstream/probe';
import { createRefresher, RefreshIncompleteError, type RefreshSummary } from '../use-cases/refresh-tokens';
import type { RuntimeEnvironment } from './environment';
import { buildRuntime, type Runtime, type RuntimeOptions } from './runtime';
import { REFRESH_RUN_TIMEOUT_SECONDS, SECRET_CHECK_MINUTES } from './schedule';

/** The refresher's runtime: what every function has, and the probe of each connection with a `probeUrl`. */
export interface RefresherRuntime extends Runtime<RefreshingTokenSource, DynamoStatusStore> {
  readonly probes: Readonly<Record<string, TokenProbe>>;
}

/**
 * The refresher function's composition root: what functions/refresh-tokens/handler.ts builds at
 * cold start. Its token source also renews what is due, and holds secrets for the rotation check
 * period (SECRET_CHECK_MINUTES) instead of a request container's 5 minutes, so a run where nothing
 * is due reads no secret.
 * @example export const handler = refresherFunction(createRefresherRuntime(readRuntimeEnvironment()));
 */
export function createRefresherRuntime(
  environment: RuntimeEnvironment,
  options: RuntimeOptions = {},
): RefresherRuntime {
  const runtime = buildRuntime(
    environment,
    { secretMaxAgeMs: SECRET_CHECK_MINUTES * 60_000, ...options },
    (deps) => new RefreshingTokenSource(deps),
    (table) => new DynamoStatusStore(table),
  );
  const probes = tokenProbes(runtime.config.connections, { clock: runtime.clock, log: runtime.logger });
  return { ...runtime, probes };
}

/**
 * The scheduled refresher wired from its runtime (`createRefresherRuntime`): what
 * `functions/refresh-tokens/handler.ts` exports. Wiring only.
 * A run fails when a connection is left without a usable token: that is what the refresher alarm
 * counts and what sends the run to the dead-letter queue. It is not retried: the next scheduled
 * run, a minute later, tries again.
 */
export function refresherFunction(runtime: RefresherRuntime) {
  const { config, clock, logger, metrics, telemetry, tokens, policy, stores, probes } = runtime;
  const refresher = createRefresher({
    connections: config.connections,
    tokens,
    status: stores.status,
    probes,
    publicCodeOf: problemCodeOf,
    policy,
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
