import { buildEmbedHelper } from '../../web/build';

/**
 * The browser helper a SaaS team copies: one ES module, no imports (dependency-free), exporting
 * the documented API, and never naming anything a browser must not hold.
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
    expect(code).toContain('fetch(ticket.redeemUrl, { credentials: "include"');
    expect(code).toContain('"Astrato"');
    expect(code).toContain('"401Error"');
    expect(code).toContain('credentials: "include", mode: "no-cors"');
    // Nothing of the broker's own API: the page's backend talks to the broker, never the browser.
    expect(code).not.toMatch(/\/v1\/tickets|authorization|Bearer/i);
  });
});
