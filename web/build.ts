import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

/** The helper's source and where `npm run build:web` writes it, from the repository root. */
export const EMBED_HELPER_ENTRY = 'web/astrato-embed.ts';
export const EMBED_HELPER_OUTFILE = 'dist/web/astrato-embed.js';

/**
 * Builds the browser helper with the project's esbuild: one ES module, no imports, for browsers
 * of the last few years (es2020). Returns the code; writes it too when `outfile` is given.
 */
export async function buildEmbedHelper(options: { outfile?: string; minify?: boolean } = {}) {
  const result = await build({
    entryPoints: [EMBED_HELPER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: options.minify ?? false,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.text ?? '';
  if (options.outfile) {
    mkdirSync(dirname(options.outfile), { recursive: true });
    writeFileSync(options.outfile, code);
  }
  return { code, bytes: Buffer.byteLength(code) };
}
