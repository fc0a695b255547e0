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
 * bundle measured here; the AWS SDK is bundled so the deployed
 * code runs the SDK version the tests ran, not whatever the runtime ships.
 */
export const BUNDLE_SETTINGS = {
  format: 'cjs',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  target: NODE_TARGET,
  externalModules: [] as string[],
} as const;

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
    logLevel: 'warning' as const,
  };
}
