/**
 * Jest compiles our TypeScript (and middy's ES modules) to CommonJS with swc;
 * see ../shared/TOOLCHAIN.md "jest with middy's ES modules".
 * @type {import('jest').Config}
 */
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/test/browser/'],
  transform: { '^.+\\.(t|j)s$': swc },
  // ES-module-only packages we import are compiled too.
  transformIgnorePatterns: ['/node_modules/(?!(@middy|oauth4webapi)/)'],
  testTimeout: 30000,
};
