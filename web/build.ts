import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type BuildOptions, buildSync } from 'esbuild';

/** The helper's source and where `npm run build:web` writes it, from the repository root. */
export const EMBED_HELPER_ENTRY = 'web/astrato-embed.ts';
export const EMBED_HELPER_OUTFILE = 'dist/web/astrato-embed.js';

const OPTIONS: BuildOptions = {
  entryPoints: [EMBED_HELPER_ENTRY],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  legalComments: 'none',
  write: false,
  logLevel: 'silent',
};

/**
 * Builds the browser helper with the project's esbuild: one ES module, no imports, for browsers
 * of the last few years (es2020). Returns the code; writes it too when `outfile` is given.
 * Synchronous on purpose: esbuild's asynchronous API keeps a service process alive, which would
 * outlive `npm start`'s components and its Ctrl-C handling.
 */
export function buildEmbedHelper(options: { outfile?: string; minify?: boolean } = {}) {
  const result = buildSync({ ...OPTIONS, minify: options.minify ?? false });
  const code = result.outputFiles?.[0]?.text ?? '';
  if (options.outfile) {
    mkdirSync(dirname(options.outfile), { recursive: true });
    writeFileSync(options.outfile, code);
  }
  return { code, bytes: Buffer.byteLength(code) };
}
