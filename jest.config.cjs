/**
 * Jest compiles our TypeScript (and middy's ES modules) to CommonJS with swc. middy and oauth4webapi
 * ship ES modules only, so they are compiled too; a pure-ESM jest (--experimental-vm-modules) would
 * run them but breaks `__dirname` and `require` in the CDK and test code.
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
