import { readFileSync } from 'node:fs';
import {
  buildEmbedHelper,
  EMBED_HELPER_OUTFILE,
  EMBED_HELPER_TYPES,
  EMBED_PACKAGE_DIR,
} from '../../web/build';

/**
 * The browser helper as built: one ES module, no imports (dependency-free), exporting the
 * documented API, and never naming anything a browser must not hold; its package ships exactly
 * what the build writes.
 */
describe('web/astrato-embed.ts as built', () => {
  let code = '';
  beforeAll(() => {
    ({ code } = buildEmbedHelper());
  });

  it('is one ES module without imports, exporting createAstratoEmbed and signOutOfAstrato', () => {
    expect(code).not.toMatch(/^\s*import[\s{*]/m);
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).toMatch(/export\s*\{[^}]*createAstratoEmbed[^}]*signOutOfAstrato[^}]*\}/);
  });

  it('redeems with credentials, listens only to the vendor sample’s 401Error message, signs out with no-cors', () => {
    expect(code).toContain('fetch(redeemUrl, { credentials: "include"');
    expect(code).toContain('"Astrato"');
    expect(code).toContain('"401Error"');
    expect(code).toContain('credentials: "include", mode: "no-cors"');
    // Nothing of the broker's own API: the page's backend talks to the broker, never the browser.
    expect(code).not.toMatch(/\/v1\/tickets|authorization|Bearer/i);
  });

  it('web/package.json exports and ships the files the build writes', () => {
    const manifest = JSON.parse(readFileSync(`${EMBED_PACKAGE_DIR}/package.json`, 'utf8'));
    const inPackage = (file: string) => `./${file.slice(EMBED_PACKAGE_DIR.length + 1)}`;
    expect(manifest.exports['.']).toEqual({
      types: inPackage(EMBED_HELPER_TYPES),
      import: inPackage(EMBED_HELPER_OUTFILE),
    });
    expect(manifest.types).toBe(inPackage(EMBED_HELPER_TYPES));
    expect(manifest.files.map((file: string) => `./${file}`).sort()).toEqual(
      [inPackage(EMBED_HELPER_OUTFILE), inPackage(EMBED_HELPER_TYPES)].sort(),
    );
  });
});
