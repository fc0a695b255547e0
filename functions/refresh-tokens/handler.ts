import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { createRefresherRuntime, refresherFunction } from '../../shared/runtime/refresher-function';

/** The scheduled token refresher (EventBridge, every minute): wiring only, built once per container. */
export const handler = refresherFunction(createRefresherRuntime(readRuntimeEnvironment(process.env)));
