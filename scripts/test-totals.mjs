// Sums jest --json result files into the one line CI's counter reads: "N passed, N failed".
// A result file that is missing (jest crashed before writing it) counts as one failure.
import { existsSync, readFileSync } from 'node:fs';

// `--failed-gates N`: checks outside jest (lint, the templates) that failed, one failure each.
const args = process.argv.slice(2);
let passed = 0;
let failed = 0;
const gates = args.indexOf('--failed-gates');
if (gates >= 0) {
  const count = Number(args.splice(gates, 2)[1]) || 0;
  if (count > 0) {
    console.error(`test-totals: ${count} gate(s) before the tests failed; counted as failures`);
    failed += count;
  }
}
for (const file of args) {
  if (!existsSync(file)) {
    console.error(`test-totals: ${file} is missing; counted as a failure`);
    failed += 1;
    continue;
  }
  const result = JSON.parse(readFileSync(file, 'utf8'));
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  // A suite that failed to run (syntax error, failing hook) has no failed test of its own.
  failed += result.testResults.filter(
    (suite) => suite.status === 'failed' && suite.assertionResults.every((test) => test.status !== 'failed'),
  ).length;
}
console.log(`${passed} passed, ${failed} failed`);
