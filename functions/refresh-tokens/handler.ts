import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { refresherFunction } from '../../shared/runtime/refresher-function';
import { createRuntime } from '../../shared/runtime/runtime';

/** The scheduled token refresher (EventBridge, every minute): wiring only, built once per container. */
export const handler = refresherFunction(
  createRuntime(readRuntimeEnvironment(), { serviceName: 'refresh-tokens' }),
);
