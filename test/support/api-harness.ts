import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createCaller, type NewCallerInput } from '../../shared/callers/admin';
import { DynamoCallerStore } from '../../shared/callers/dynamo-caller-store';
import { apiEvent, type EventOptions, lambdaContext } from './events';
import { TABLE_NAME, type TestStack } from './stack';

export type ApiHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
  readonly raw: string;
  readonly requestId: string;
}

/**
 * Loads the real `functions/issue-ticket/handler` module against a test stack (its module scope
 * reads the environment, as on Lambda) and invokes it with events of API Gateway's shape.
 */
export async function loadApiHandler(stack: TestStack): Promise<ApiHandler> {
  Object.assign(process.env, stack.environment());
  const module = await import('../../functions/issue-ticket/handler');
  return module.handler as unknown as ApiHandler;
}

export async function invoke(handler: ApiHandler, options: EventOptions): Promise<ApiResponse> {
  const event = apiEvent(options);
  const result = await handler(event, lambdaContext());
  const raw = typeof result.body === 'string' ? result.body : '';
  let body: Record<string, unknown> = {};
  try {
    body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  } catch {
    body = {};
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  return { status: result.statusCode ?? 200, headers, body, raw, requestId: event.requestContext.requestId };
}

/** Creates a caller in the stack's table; returns its key. */
export async function addCaller(
  stack: TestStack,
  input: NewCallerInput,
): Promise<{ key: string; keyId: string }> {
  const store = new DynamoCallerStore({ client: stack.documentClient(), tableName: TABLE_NAME });
  const { key, record } = await createCaller(store, input, {
    connections: stack.config.connections,
    now: new Date(),
  });
  return { key, keyId: record.keyId };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
