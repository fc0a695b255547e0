/**
 * Browser tests (`npm run test:browser`): Chromium from the Debian package, driven by
 * playwright-core. Kept apart from `npm test`, which must pass without system packages.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/browser'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
};
