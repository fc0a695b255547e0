import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  buildEmbedHelper,
  EMBED_HELPER_OUTFILE,
  EMBED_HELPER_TYPES,
  EMBED_PACKAGE_DIR,
} from '../../web/build';

/**
 * The browser helper as built: one ES module, no imports (dependency-free), exporting the
 * documented API, and never naming anything a browser must not hold; its package ships exactly
 * what the build writes. The module is run as built, in a fresh Node process on stand-ins of what
 * it uses from a browser (test/support/run-built-helper.mjs): what it does is observed, not read
 * off its text.
 */
const run = promisify(execFile);

describe('web/astrato-embed.ts as built', () => {
  let code = '';
  let dir = '';
  let ran: {
    imports: string[];
    exports: string[];
    signOut: { url: string; init: Record<string, unknown> };
    redemption: { url: string; init: Record<string, unknown> };
    frameSrc: string;
    afterOthers: string;
    states: string[];
    otherRequests: unknown[];
  };
  beforeAll(async () => {
    ({ code } = buildEmbedHelper());
    dir = mkdtempSync(join(tmpdir(), 'tb-helper-'));
    const file = join(dir, 'astrato-embed.mjs');
    writeFileSync(file, code);
    const driver = resolve('test/support/run-built-helper.mjs');
    const { stdout } = await run(process.execPath, ['--experimental-vm-modules', driver, file], {
      cwd: dir,
      timeout: 20_000,
    });
    const line = stdout
      .split('\n')
      .find((entry) => entry.startsWith('RESULT ') || entry.startsWith('ERROR '));
    if (!line?.startsWith('RESULT ')) throw new Error(`the built helper failed: ${line ?? stdout}`);
    ran = JSON.parse(line.slice('RESULT '.length));
  }, 30_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is one ES module without imports, exporting createAstratoEmbed and signOutOfAstrato', () => {
    expect(ran.imports).toEqual([]);
    expect(ran.exports).toEqual(['createAstratoEmbed', 'signOutOfAstrato']);
  });

  it('redeems with credentials, listens only to the vendor sample’s 401Error message, signs out with no-cors', () => {
    expect(ran.redemption).toEqual({
      url: 'https://tenant.example/auth/proxy/oem/ticket/t1?embed',
      init: { credentials: 'include', cache: 'no-store' },
    });
    expect(ran.frameSrc).toBe('https://tenant.example/dashboard');
    // Other windows, origins and shapes change nothing; the vendor's 401Error does.
    expect(ran.afterOthers).toBe('embedded');
    expect(ran.states).toEqual(['redeeming', 'redeeming', 'embedded', 'frame-signed-out']);
    expect(ran.signOut).toEqual({
      url: 'https://tenant.example/auth/proxy/0/sign_out',
      init: { credentials: 'include', mode: 'no-cors', cache: 'no-store' },
    });
    expect(ran.otherRequests).toEqual([]);
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
