// Completes package-lock.json with the platform-specific optional packages that this machine's
// npm registry does not serve (other OSes, CPUs, musl). npm then writes no lock entry for them,
// and `npm ci` refuses its own lockfile ("Missing: @swc/core-darwin-arm64@ from lock file").
// Each added entry carries the platform its name declares, so npm ci accepts the lockfile and
// skips the package as one for another platform. Run after changing dependencies:
//   npm install && npm run lock:complete
import { readFileSync, writeFileSync } from 'node:fs';

const OS = [
  'darwin',
  'linux',
  'win32',
  'android',
  'freebsd',
  'openbsd',
  'netbsd',
  'sunos',
  'aix',
  'openharmony',
];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64el', 'wasm32'];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((part) => OS.includes(part));
  const cpu = parts.find((part) => CPU.includes(part));
  const libc = parts.some((part) => part.startsWith('musl'))
    ? 'musl'
    : parts.some((part) => part.startsWith('gnu'))
      ? 'glibc'
      : undefined;
  return { os, cpu, libc };
}

const path = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
const added = [];
for (const [location, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    // Where npm would look for it: nested under the parent, then hoisted at the root.
    const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      console.error(
        `complete-lockfile: ${name}@${spec} (from ${location}) is not an exact version; left alone`,
      );
      continue;
    }
    const { os, cpu, libc } = platformOf(name);
    if (!os && !cpu) {
      console.error(`complete-lockfile: cannot tell the platform of ${name}; left alone`);
      continue;
    }
    packages[`node_modules/${name}`] = {
      version: spec,
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(entry.dev ? { dev: true } : {}),
      ...(libc ? { libc: [libc] } : {}),
      optional: true,
      ...(os ? { os: [os] } : {}),
    };
    added.push(`${name}@${spec}`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  `complete-lockfile: ${added.length} platform packages recorded${added.length ? `: ${added.join(', ')}` : ''}`,
);
