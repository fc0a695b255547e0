import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { buildEmbedHelper } from '../../web/build';
import {
  EMBED_PACKAGE_NAME,
  type InstalledEmbedPackage,
  packAndInstallEmbedPackage,
} from '../support/embed-package';

/**
 * The browser helper as a SaaS team gets it: `npm pack` in web/, the tarball installed into a fresh
 * project with no network, a strict TypeScript consumer type-checked against the shipped
 * declarations, and the consumer bundled by esbuild from node_modules.
 */
const TSC = resolve('node_modules/.bin/tsc');

/** A consumer using the whole API; the exhaustive switches fail to compile if a union changes. */
const CONSUMER = `import {
  type AstratoEmbed,
  type EmbedFailure,
  type EmbedState,
  type EmbedStatus,
  type TicketUrls,
  createAstratoEmbed,
  signOutOfAstrato,
} from '${EMBED_PACKAGE_NAME}';

function describeStatus(status: EmbedStatus): string {
  switch (status) {
    case 'idle':
    case 'redeeming':
    case 'renewing':
      return 'working';
    case 'embedded':
    case 'opened-top-level':
      return 'shown';
    case 'redeem-failed':
    case 'wrong-user':
    case 'frame-signed-out':
    case 'signed-out':
      return 'not shown';
    default: {
      const unknown: never = status;
      return unknown;
    }
  }
}

function describeFailure(failure: EmbedFailure): string {
  switch (failure) {
    case 'cors-or-network':
    case 'ticket-refused':
    case 'unexpected-answer':
    case 'other-user':
    case 'frame-not-signed-in':
    case 'popup-blocked':
    case 'no-ticket':
      return failure;
    default: {
      const unknown: never = failure;
      return unknown;
    }
  }
}

async function getTicket(): Promise<TicketUrls> {
  const response = await fetch('/api/analytics-ticket', { method: 'POST' });
  if (!response.ok) throw new Error(\`Analytics unavailable (HTTP \${response.status})\`);
  const { redeemUrl, embedUrl, signOutUrl } = (await response.json()) as TicketUrls;
  return { redeemUrl, embedUrl, signOutUrl };
}

const container = document.getElementById('analytics');
if (!container) throw new Error('no #analytics element');
const status = document.getElementById('analytics-status');

const embed: AstratoEmbed = createAstratoEmbed({
  container,
  dashboardUrl: 'https://app.astrato.io/embed/dashboard',
  expectedEmail: 'ada@example.com',
  getTicket,
  frameTitle: 'Sales dashboard',
  onStateChange(state: EmbedState) {
    const why = state.failure ? describeFailure(state.failure) : 'ok';
    const who = state.user?.email ?? 'nobody yet';
    const http = state.httpStatus?.toFixed(0) ?? '-';
    if (status) status.textContent = \`\${describeStatus(state.status)} (\${why}, \${who}, \${http}): \${state.message}\`;
  },
});

export async function openAnalytics(): Promise<boolean> {
  const state = await embed.embed(await getTicket());
  if (state.canOpenTopLevel) await embed.openTopLevel();
  return embed.state.status === 'embedded';
}

export async function signOut(): Promise<void> {
  await embed.signOut();
  await signOutOfAstrato('https://app.astrato.io/auth/proxy/0/sign_out');
}
`;

/** The negative control: mistakes a strict consumer must be stopped at. */
const MISTAKES = `import { createAstratoEmbed } from '${EMBED_PACKAGE_NAME}';

const embed = createAstratoEmbed({
  container: document.body,
  dashboardUrl: 'https://app.astrato.io/embed/dashboard',
  getTicket: async () => ({ redeemUrl: 'https://app.astrato.io/auth/proxy/oem/ticket/x?embed' }),
});
export const shown = embed.state.status === 'embeded';
`;

function tsconfig(moduleOptions: Record<string, string>, file: string): string {
  return JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: 'ES2020',
      lib: ['ES2020', 'DOM'],
      types: [],
      isolatedModules: true,
      verbatimModuleSyntax: true,
      ...moduleOptions,
    },
    files: [file],
  });
}

/** The repository's TypeScript on a consumer's tsconfig: exit code and what it printed. */
function typeCheck(projectDir: string, config: string): { code: number; output: string } {
  try {
    const output = execFileSync(TSC, ['-p', config, '--pretty', 'false'], {
      cwd: projectDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, output };
  } catch (error) {
    const { status, stdout, stderr } = error as { status?: number; stdout?: string; stderr?: string };
    return { code: status ?? 1, output: `${stdout ?? ''}${stderr ?? ''}` };
  }
}

let installed: InstalledEmbedPackage;

beforeAll(() => {
  installed = packAndInstallEmbedPackage();
  writeFileSync(join(installed.projectDir, 'consumer.ts'), CONSUMER);
  writeFileSync(join(installed.projectDir, 'mistakes.ts'), MISTAKES);
  const bundler = { module: 'ESNext', moduleResolution: 'Bundler' };
  writeFileSync(join(installed.projectDir, 'tsconfig.json'), tsconfig(bundler, 'consumer.ts'));
  writeFileSync(
    join(installed.projectDir, 'tsconfig.nodenext.json'),
    tsconfig({ module: 'NodeNext', moduleResolution: 'NodeNext' }, 'consumer.ts'),
  );
  writeFileSync(join(installed.projectDir, 'tsconfig.mistakes.json'), tsconfig(bundler, 'mistakes.ts'));
}, 180_000);

afterAll(() => installed?.remove());

describe(`${EMBED_PACKAGE_NAME} as a consumer installs it`, () => {
  it('npm pack holds the ES module, its declarations, the README and package.json, nothing else', () => {
    expect(installed.files).toEqual([
      'README.md',
      'dist/astrato-embed.d.ts',
      'dist/astrato-embed.js',
      'package.json',
    ]);
    // Built by prepack from the same source the demo serves, not a stale copy.
    expect(readFileSync(join(installed.installedDir, 'dist/astrato-embed.js'), 'utf8')).toBe(
      buildEmbedHelper().code,
    );
    process.stderr.write(`packed ${installed.files.length} files, ${installed.tarballBytes} bytes\n`);
  });

  it('installs offline with nothing else: a module package with exports for types and import, no dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(installed.installedDir, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: EMBED_PACKAGE_NAME,
      type: 'module',
      sideEffects: false,
      exports: { '.': { types: './dist/astrato-embed.d.ts', import: './dist/astrato-embed.js' } },
    });
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(typeof manifest.license).toBe('string');
    // An accidental `npm publish` never makes it public.
    expect(manifest.publishConfig).toEqual({ access: 'restricted' });
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bundleDependencies']) {
      expect(manifest[field]).toBeUndefined();
    }
    for (const target of Object.values(manifest.exports['.'] as Record<string, string>)) {
      expect(existsSync(join(installed.installedDir, target))).toBe(true);
    }
    const lock = JSON.parse(readFileSync(join(installed.projectDir, 'package-lock.json'), 'utf8'));
    expect(Object.keys(lock.packages).sort()).toEqual(['', `node_modules/${EMBED_PACKAGE_NAME}`]);
  });

  it('a strict TypeScript consumer type-checks against the shipped declarations (bundler and nodenext)', () => {
    for (const config of ['tsconfig.json', 'tsconfig.nodenext.json']) {
      const { code, output } = typeCheck(installed.projectDir, config);
      expect({ config, code, output }).toEqual({ config, code: 0, output: '' });
    }
  }, 60_000);

  it('the declarations are strict: a wrong status and an incomplete ticket do not compile', () => {
    const { code, output } = typeCheck(installed.projectDir, 'tsconfig.mistakes.json');
    expect(code).not.toBe(0);
    expect(output).toMatch(
      /mistakes\.ts\(\d+,\d+\): error TS2322: [\s\S]*missing the following properties from type 'TicketUrls': embedUrl, signOutUrl/,
    );
    expect(output).toMatch(/mistakes\.ts\(\d+,\d+\): error TS2367: .*'EmbedStatus' and '"embeded"'/);
  }, 60_000);

  it('esbuild bundles the consumer from node_modules into one module without imports', () => {
    const result = buildSync({
      entryPoints: [join(installed.projectDir, 'consumer.ts')],
      absWorkingDir: installed.projectDir,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]?.text ?? '';
    expect(Object.keys(result.metafile.inputs).sort()).toEqual([
      'consumer.ts',
      `node_modules/${EMBED_PACKAGE_NAME}/dist/astrato-embed.js`,
    ]);
    expect(code).not.toMatch(/^\s*import[\s{*]/m);
    expect(code).toContain('credentials: "include"');
    expect(code).toContain('"401Error"');
    // sideEffects: false lets a bundler drop an import whose exports go unused.
    const unused = buildSync({
      stdin: { contents: `import '${EMBED_PACKAGE_NAME}';`, resolveDir: installed.projectDir },
      bundle: true,
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    expect(unused.outputFiles[0]?.text.trim()).toBe('');
  });
});
