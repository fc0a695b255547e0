import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * npm blocks dependency install scripts unless package.json's `allowScripts` approves them. Each
 * package that has one carries a recorded decision, and every denied package is shown here doing
 * its job without its script (each loads the prebuilt binary its platform package ships).
 */
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean> };
const INSTALL_HOOKS = ['preinstall', 'install', 'postinstall'];

/** Every installed package (nested ones included) whose package.json declares an install hook. */
function packagesWithInstallScripts(dir = 'node_modules'): Set<string> {
  const found = new Set<string>();
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const path = join(folder, entry.name);
      if (entry.name.startsWith('@')) {
        visit(path);
        continue;
      }
      try {
        const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as {
          name?: string;
          scripts?: Record<string, string>;
        };
        if (manifest.name && INSTALL_HOOKS.some((hook) => manifest.scripts?.[hook])) found.add(manifest.name);
      } catch {
        // not a package folder
      }
      try {
        visit(join(path, 'node_modules'));
      } catch {
        // no nested node_modules
      }
    }
  };
  visit(dir);
  return found;
}

describe('install scripts', () => {
  it('every dependency with an install script has a recorded decision, and all of them are denied', () => {
    const withScripts = [...packagesWithInstallScripts()].sort();
    expect(withScripts).toEqual(['@parcel/watcher', '@swc/core', 'classic-level', 'esbuild']);
    expect(Object.keys(pkg.allowScripts ?? {}).sort()).toEqual(withScripts);
    expect(Object.values(pkg.allowScripts ?? {})).toEqual(withScripts.map(() => false));
  });

  describe('what each denied package provides works without its script', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'install-scripts-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('esbuild: the CLI and the API bundle TypeScript (postinstall only verifies or copies the binary)', async () => {
      const version = execFileSync('node_modules/.bin/esbuild', ['--version'], { encoding: 'utf8' }).trim();
      expect(version).toBe((await import('esbuild')).version);
      const { build } = await import('esbuild');
      writeFileSync(join(dir, 'entry.ts'), 'export const answer: number = 6 * 7;\n');
      const result = await build({
        entryPoints: [join(dir, 'entry.ts')],
        bundle: true,
        write: false,
        format: 'esm',
      });
      expect(result.outputFiles[0]?.text).toContain('6 * 7');
    });

    it('@swc/core: compiles TypeScript with its native binding (postinstall only checks it, else fetches a wasm build)', async () => {
      const swc = await import('@swc/core');
      const { code } = swc.transformSync('const a: number = 1;', {
        jsc: { parser: { syntax: 'typescript' } },
      });
      expect(code.trim()).toBe('var a = 1;');
    });

    it('classic-level (dynalite on disk): opens, writes and reads a LevelDB store from its prebuilt binding', async () => {
      const { ClassicLevel } = await import('classic-level');
      const db = new ClassicLevel<string, string>(join(dir, 'level'));
      await db.put('key', 'value');
      expect(await db.get('key')).toBe('value');
      await db.close();
    });

    it('@parcel/watcher (jest --watch): its native binding reports a file change', async () => {
      const watcher = await import('@parcel/watcher');
      const snapshot = join(dir, 'snapshot');
      const watched = join(dir, 'watched');
      mkdirSync(watched);
      await watcher.writeSnapshot(watched, snapshot);
      writeFileSync(join(watched, 'new-file.txt'), 'x');
      const events = await watcher.getEventsSince(watched, snapshot);
      expect(events.map((event) => event.path)).toContain(join(watched, 'new-file.txt'));
    });
  });
});
