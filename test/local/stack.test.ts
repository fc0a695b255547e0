import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PORTS, type LocalStack, SIMULATOR_CLIENTS, startLocalStack } from '../../local/stack';
import { writeOrdersConfig } from '../support/local-config';
import { OutputCapture } from '../support/log-capture';

/**
 * `startLocalStack` in-process, twice: each stack's functions are built from that stack's own
 * configuration and stand-ins, never from the process's environment, so a second stack in the same
 * process serves its own connections, callers and table, not the first one's.
 */
const output = new OutputCapture();
const ephemeral = Object.fromEntries(Object.keys(DEFAULT_PORTS).map((component) => [component, 0]));
const stacks: LocalStack[] = [];
let dir: string;

beforeAll(() => {
  output.start();
  dir = mkdtempSync(join(tmpdir(), 'tb-two-stacks-'));
});

afterAll(async () => {
  await Promise.all(stacks.map((stack) => stack.stop()));
  rmSync(dir, { recursive: true, force: true });
  output.stop();
});

/** A request to a stack's broker API with that stack's development key (or another). */
async function call(stack: LocalStack, method: string, path: string, key = stack.devCallerKey) {
  const response = await fetch(`${stack.urls.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}` },
  });
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, code: body.code };
}

it('a second local stack in one process serves its own configuration', async () => {
  const first = await startLocalStack({ ports: ephemeral, refreshIntervalMs: 3_600_000 });
  stacks.push(first);
  // The second runs another configuration: one connection, `orders`, unknown to the first.
  const { configPath, secretsPath } = writeOrdersConfig(dir, first.urls.keycloakToken, SIMULATOR_CLIENTS.oms);
  const second = await startLocalStack({
    ports: ephemeral,
    refreshIntervalMs: 3_600_000,
    configPath,
    secretsPath,
  });
  stacks.push(second);

  expect(Object.keys(second.config.connections)).toEqual(['orders']);
  expect(await call(second, 'POST', '/v1/connections/orders/token')).toEqual({
    status: 200,
    code: undefined,
  });
  expect(await call(second, 'GET', '/v1/connections/orders/status')).toEqual({
    status: 200,
    code: undefined,
  });
  // Its functions know only its connections, and only its callers (its own table).
  expect(await call(second, 'GET', '/v1/connections/oms/status')).toMatchObject({
    code: 'unknown_connection',
  });
  expect(await call(second, 'GET', '/v1/connections/orders/status', first.devCallerKey)).toEqual({
    status: 401,
    code: 'unauthorized',
  });
  // The first stack is unchanged by the second.
  expect(await call(first, 'GET', '/v1/connections/oms/status')).toEqual({ status: 200, code: undefined });
  expect(await call(first, 'GET', '/v1/connections/orders/status')).toMatchObject({
    code: 'unknown_connection',
  });
  expect(await call(first, 'GET', '/v1/connections/oms/status', second.devCallerKey)).toEqual({
    status: 401,
    code: 'unauthorized',
  });
}, 60_000);
