import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildSync } from 'esbuild';
import { EMBED_HELPER_OUTFILE, EMBED_PACKAGE_DIR } from '../../web/build';

/** The browser helper's package name, as web/package.json declares it. */
export const EMBED_PACKAGE_NAME = (
  JSON.parse(readFileSync(join(EMBED_PACKAGE_DIR, 'package.json'), 'utf8')) as { name: string }
).name;

/** The helper packed with `npm pack` and installed from the tarball into a fresh project. */
export interface InstalledEmbedPackage {
  /** The tarball `npm pack` wrote. */
  readonly tarball: string;
  /** Its size on disk, in bytes. */
  readonly tarballBytes: number;
  /** The paths inside the tarball, without npm's `package/` prefix, sorted. */
  readonly files: readonly string[];
  /** A fresh project (`type: module`) with the tarball installed in its node_modules. */
  readonly projectDir: string;
  /** Where the package landed in that project. */
  readonly installedDir: string;
  /** The environment npm ran with (see {@link packAndInstallEmbedPackage}). */
  readonly npmEnv: NodeJS.ProcessEnv;
  /** Removes the temporary folder, and web/dist when the pack created it. */
  remove(): void;
}

function npm(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

/**
 * Packs the helper as a maintainer does (`npm pack` in web/, whose `prepack` builds web/dist/),
 * then installs the tarball into a new temporary project with `npm install <tarball> --offline`,
 * as a SaaS team would. npm runs without the calling npm's `npm_*` variables (`npm test` sets
 * them), with a cache of its own inside the temporary folder, and with a registry address on
 * 127.0.0.1 where nothing listens: with `--offline` on top, any attempt to reach a registry fails
 * instead of touching the network.
 */
export function packAndInstallEmbedPackage(): InstalledEmbedPackage {
  const distExisted = existsSync(dirname(EMBED_HELPER_OUTFILE));
  const root = mkdtempSync(join(tmpdir(), 'embed-package-'));
  const remove = () => {
    rmSync(root, { recursive: true, force: true });
    if (!distExisted) rmSync(dirname(EMBED_HELPER_OUTFILE), { recursive: true, force: true });
  };
  try {
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)),
    );
    Object.assign(env, {
      npm_config_cache: join(root, 'npm-cache'),
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    });
    const packed = join(root, 'packed');
    mkdirSync(packed);
    // The last line is the tarball's name; the prepack build prints above it.
    const name = npm(['pack', '--pack-destination', packed], EMBED_PACKAGE_DIR, env)
      .trim()
      .split('\n')
      .at(-1);
    if (!name) throw new Error('npm pack printed no tarball name');
    const tarball = join(packed, name);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.replace(/^package\//, ''))
      .sort();

    const projectDir = join(root, 'consumer');
    mkdirSync(projectDir);
    // What `npm init -y` writes, as an ES module project.
    writeFileSync(
      join(projectDir, 'package.json'),
      `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
    );
    npm(['install', tarball, '--offline', '--no-audit', '--no-fund'], projectDir, env);
    return {
      tarball,
      tarballBytes: statSync(tarball).size,
      files,
      projectDir,
      installedDir: join(projectDir, 'node_modules', ...EMBED_PACKAGE_NAME.split('/')),
      npmEnv: env,
      remove,
    };
  } catch (error) {
    remove();
    throw error;
  }
}

/**
 * The installed package as a SaaS team's build serves it: esbuild resolves the package name from
 * the project's node_modules (through its `exports`) and writes one ES module re-exporting its API.
 */
export function bundleInstalledHelper(projectDir: string): string {
  const result = buildSync({
    stdin: { contents: `export * from '${EMBED_PACKAGE_NAME}';`, resolveDir: projectDir, loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.text;
  if (!code) throw new Error(`esbuild wrote nothing for ${EMBED_PACKAGE_NAME}`);
  return code;
}
