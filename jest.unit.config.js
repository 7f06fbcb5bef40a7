/**
 * The fast lane: the files of test/unit-lane.js, without the full suite's global setup (which
 * wants dist/) and teardown (which connects to PostgreSQL and Redis). test/support/unit-lane-guard.ts
 * makes any network use in the lane fail loudly instead of quietly reaching a service.
 */
const base = require('./jest.config');
const unitTests = require('./test/unit-lane');

module.exports = {
  preset: base.preset,
  testEnvironment: base.testEnvironment,
  transform: base.transform,
  rootDir: __dirname,
  testMatch: unitTests.map((file) => `<rootDir>/${file}`),
  setupFiles: ['<rootDir>/test/support/unit-lane-guard.ts'],
  testTimeout: 30000,
};
