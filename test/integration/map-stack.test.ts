import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The functions run without `--enable-source-maps` (it parses the whole map at every cold start),
 * so a logged stack names positions in the minified bundle; `npm run map-stack` turns them back
 * into source files and lines with the map shipped beside the bundle.
 */
describe('npm run map-stack', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'map-stack-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps a minified stack trace back to the source line that threw', () => {
    const source = join(dir, 'handler.ts');
    writeFileSync(
      source,
      [
        'export function handler(input: string): never {',
        '  const size: number = input.length;',
        "  throw new Error('bad input of ' + size);",
        '}',
        '',
      ].join('\n'),
    );
    const bundle = join(dir, 'index.js');
    buildSync({
      entryPoints: [source],
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: 'node',
      format: 'cjs',
      outfile: bundle,
    });
    const stack = execFileSync(
      process.execPath,
      [
        '-e',
        `try { require(${JSON.stringify(bundle)}).handler('abc') } catch (e) { process.stdout.write(e.stack) }`,
      ],
      { encoding: 'utf8' },
    );
    expect(stack).toMatch(/index\.js:1:\d+/); // minified: line 1
    const mapped = execFileSync(resolve('node_modules/.bin/tsx'), ['scripts/map-stack.ts', `${bundle}.map`], {
      input: stack,
      encoding: 'utf8',
    });
    expect(mapped).toMatch(/handler\.ts:3:\d+/);
    expect(mapped).not.toMatch(/index\.js:1:\d+/);
  });
});
