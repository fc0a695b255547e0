/**
 * `npm run build:web`: builds the browser helper package (web/, `@ticket-broker/astrato-embed`)
 * from web/astrato-embed.ts: the dependency-free ES module and its declarations, in web/dist/.
 * `npm pack` in web/ runs it first (`prepack`). The local demo builds the same module in memory
 * (local/demo-app.ts).
 */
import { buildEmbedPackage } from '../web/build';

try {
  for (const { file, bytes } of await buildEmbedPackage()) console.log(`wrote ${file} (${bytes} bytes)`);
} catch (error) {
  console.error(`build:web: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
