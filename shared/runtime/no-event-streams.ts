/**
 * Stands in for `@smithy/core/event-streams` in the function bundles (an esbuild alias,
 * `infra/bundling.ts`). The SDK's protocol layer imports it lazily, only for operations that stream
 * events; none of the DynamoDB and Secrets Manager operations the functions call does, yet esbuild
 * inlines every lazy import (about 15 KB of each bundle). Should an operation ever need it, it
 * fails here, loudly, instead of somewhere obscure.
 */
throw new Error(
  'SDK event streams are left out of the function bundles (infra/bundling.ts): no operation the broker calls uses them',
);
