import { apiFunction } from '../../shared/runtime/api-function';
import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { createRuntime } from '../../shared/runtime/runtime';

/** The broker's HTTP API behind API Gateway: wiring only, built once per container from its environment. */
export const handler = apiFunction(createRuntime(readRuntimeEnvironment(process.env)));
