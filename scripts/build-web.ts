/**
 * `npm run build:web`: compiles the browser helper (web/astrato-embed.ts) to one dependency-free
 * ES module, dist/web/astrato-embed.js, for a SaaS team to serve from its own site. The local demo
 * builds the same module in memory (local/demo-app.ts).
 */
import { buildEmbedHelper, EMBED_HELPER_OUTFILE } from '../web/build';

try {
  const { bytes } = buildEmbedHelper({ outfile: EMBED_HELPER_OUTFILE });
  console.log(`wrote ${EMBED_HELPER_OUTFILE} (${bytes} bytes)`);
} catch (error) {
  console.error(`build:web: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
