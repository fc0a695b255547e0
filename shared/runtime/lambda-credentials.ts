import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the function bundles (an esbuild alias,
 * `infra/bundling.ts`). A Lambda function's credentials are always its execution role's, in its
 * environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the local stack
 * and the tests set the same variables. The default chain's other sources (profiles and ini files,
 * SSO, web identity, a credential process, container and instance metadata), with the STS and SSO
 * clients they bring, are code a function never runs: about 100 KB of each bundle.
 *
 * Only the bundles use it: the operators' `callers` command runs on the full SDK, with profiles.
 */
export const defaultProvider = (init: Parameters<typeof fromEnv>[0] = {}): ReturnType<typeof fromEnv> =>
  fromEnv(init);
