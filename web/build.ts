import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type BuildOptions, buildSync } from 'esbuild';

/** The helper's source, from the repository root. */
export const EMBED_HELPER_ENTRY = 'web/astrato-embed.ts';
/** The package folder (`@ticket-broker/astrato-embed`): what `npm pack` there packs. */
export const EMBED_PACKAGE_DIR = 'web';
/** What the package ships besides its README, as `npm run build:web` and `prepack` write them. */
export const EMBED_HELPER_OUTFILE = 'web/dist/astrato-embed.js';
export const EMBED_HELPER_TYPES = 'web/dist/astrato-embed.d.ts';

const OPTIONS: BuildOptions = {
  entryPoints: [EMBED_HELPER_ENTRY],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  legalComments: 'none',
  write: false,
  logLevel: 'silent',
};

function write(outfile: string, text: string): void {
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(outfile, text);
}

/**
 * Builds the browser helper with the project's esbuild: one ES module, no imports, for browsers
 * of the last few years (es2020). Returns the code; writes it too when `outfile` is given.
 * Synchronous on purpose: esbuild's asynchronous API keeps a service process alive, which would
 * outlive `npm start`'s components and its Ctrl-C handling.
 */
export function buildEmbedHelper(options: { outfile?: string; minify?: boolean } = {}) {
  const result = buildSync({ ...OPTIONS, minify: options.minify ?? false });
  const code = result.outputFiles?.[0]?.text ?? '';
  if (options.outfile) write(options.outfile, code);
  return { code, bytes: Buffer.byteLength(code) };
}

/**
 * The helper's declarations (`.d.ts`), emitted from the source by the project's TypeScript, which
 * also type-checks it as browser code: the DOM and ES2020 libraries only, no Node.js types, the
 * house's strict options. TypeScript is loaded only here, so `npm start` (which builds just the
 * module) does not pay for it.
 *
 * @returns the declarations, with their TSDoc
 * @throws Error listing every diagnostic when the source does not type-check
 * @see https://www.typescriptlang.org/docs/handbook/declaration-files/dts-from-js.html
 */
export async function emitEmbedHelperTypes(outfile?: string): Promise<{ code: string; bytes: number }> {
  const { default: ts } = await import('typescript');
  const program = ts.createProgram({
    rootNames: [resolve(EMBED_HELPER_ENTRY)],
    options: {
      target: ts.ScriptTarget.ES2020,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2020.d.ts', 'lib.dom.d.ts'],
      types: [],
      strict: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      noImplicitReturns: true,
      noFallthroughCasesInSwitch: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      declaration: true,
      emitDeclarationOnly: true,
      rootDir: resolve(EMBED_PACKAGE_DIR),
      outDir: resolve(dirname(EMBED_HELPER_TYPES)),
    },
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    throw new Error(
      ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (name) => name,
        getCurrentDirectory: () => process.cwd(),
        getNewLine: () => '\n',
      }),
    );
  }
  let code = '';
  const emitted = program.emit(
    undefined,
    (_name, text) => {
      code = text;
    },
    undefined,
    true,
  );
  if (emitted.emitSkipped || code === '')
    throw new Error(`no declarations emitted for ${EMBED_HELPER_ENTRY}`);
  if (outfile) write(outfile, code);
  return { code, bytes: Buffer.byteLength(code) };
}

/**
 * Writes what the package ships (the module and its declarations) into `web/dist/`, from the
 * repository root: `npm run build:web`, and `npm pack`'s `prepack` in `web/`.
 *
 * @returns each file written and its size
 */
export async function buildEmbedPackage(): Promise<Array<{ file: string; bytes: number }>> {
  const module = buildEmbedHelper({ outfile: EMBED_HELPER_OUTFILE });
  const types = await emitEmbedHelperTypes(EMBED_HELPER_TYPES);
  return [
    { file: EMBED_HELPER_OUTFILE, bytes: module.bytes },
    { file: EMBED_HELPER_TYPES, bytes: types.bytes },
  ];
}
