/**
 * How the functions are bundled: one definition, used by the CDK app (NodejsFunction) and by the
 * test that loads the deployable bundles in Node 22, so what is tested is what is deployed.
 */
export const FUNCTION_ENTRIES = {
  issueTicket: 'functions/issue-ticket/handler.ts',
  refreshTokens: 'functions/refresh-tokens/handler.ts',
} as const;

export type FunctionName = keyof typeof FUNCTION_ENTRIES;

/** Lambda's Node.js major (runtime `nodejs22.x`). */
export const NODE_TARGET = 'node22';

/**
 * esbuild settings. CommonJS with `module` preferred over `main` gives the smallest, fastest-loading
 * bundle measured on these machines (333 KB and 73 ms to load, against 528 KB and 115 ms with
 * `main` first, for a handler importing the DynamoDB client and middy); the AWS SDK is bundled so the deployed
 * code runs the SDK version the tests ran, not whatever the runtime ships.
 */
export const BUNDLE_SETTINGS = {
  format: 'cjs',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  target: NODE_TARGET,
  externalModules: [] as string[],
  /**
   * SDK code paths a function never runs, swapped for what it does run (each module says why):
   * the default credential chain becomes its environment-variable source alone, and event-stream
   * support, loaded lazily and only by streaming operations, a module that refuses. Paths are
   * relative to the repository root, the working directory of every bundling.
   */
  alias: {
    '@aws-sdk/credential-provider-node': './shared/runtime/lambda-credentials.ts',
    '@smithy/core/event-streams': './shared/runtime/no-event-streams.ts',
  },
  /**
   * `import()` of a Node built-in becomes `require()`. An ESM import of `node:http` builds its ESM
   * facade, which reads every export, including the lazily loaded fetch and WebSocket stack
   * (undici): 10-20 ms on the first request that reaches it. The SDK imports `node:http` that way
   * for plain-http endpoints (every local stand-in), so without this the local figures would pay
   * a cost the deployed function (https) does not.
   */
  supported: { 'dynamic-import': false },
} as const;

/**
 * The most each function bundle may weigh, in bytes (a test holds every bundle to it). A Lambda
 * cold start parses and compiles the whole file before the first request: the diet from 912 KB
 * (the full zod build and every SDK credential source) is kept from creeping back.
 */
export const BUNDLE_BUDGET_BYTES = 350 * 1024;

/** The same settings in esbuild's own option names (for the artifact test and the benchmarks). */
export function esbuildOptions(entry: string, outfile: string, overrides: { external?: string[] } = {}) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node' as const,
    format: BUNDLE_SETTINGS.format,
    mainFields: [...BUNDLE_SETTINGS.mainFields],
    minify: BUNDLE_SETTINGS.minify,
    sourcemap: BUNDLE_SETTINGS.sourcemap,
    target: BUNDLE_SETTINGS.target,
    external: overrides.external ?? [...BUNDLE_SETTINGS.externalModules],
    alias: { ...BUNDLE_SETTINGS.alias },
    supported: { ...BUNDLE_SETTINGS.supported },
    logLevel: 'warning' as const,
  };
}
