import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { REFRESHER_RUNTIME_OPTIONS, refresherFunction } from '../../shared/runtime/refresher-function';
import { createRuntime } from '../../shared/runtime/runtime';

/** The scheduled token refresher (EventBridge, every minute): wiring only, built once per container. */
export const handler = refresherFunction(createRuntime(readRuntimeEnvironment(), REFRESHER_RUNTIME_OPTIONS));
