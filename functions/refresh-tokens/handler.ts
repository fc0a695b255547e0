import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { refresherFunction } from '../../shared/runtime/refresher-function';
import { createRuntime } from '../../shared/runtime/runtime';
import { SECRET_CHECK_MINUTES } from '../../shared/runtime/schedule';

/** The scheduled token refresher (EventBridge, every minute): wiring only, built once per container. */
export const handler = refresherFunction(
  createRuntime(readRuntimeEnvironment(), {
    serviceName: 'refresh-tokens',
    secretMaxAgeMs: SECRET_CHECK_MINUTES * 60_000,
  }),
);
