import { apiFunction } from '../../shared/runtime/api-function';
import { readRuntimeEnvironment } from '../../shared/runtime/environment';
import { createRuntime } from '../../shared/runtime/runtime';

/** The broker's HTTP API behind API Gateway: wiring only, built once per container. */
export const handler = apiFunction(createRuntime(readRuntimeEnvironment(), { serviceName: 'issue-ticket' }));
