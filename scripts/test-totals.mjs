// Sums jest --json result files into the one line CI's counter reads: "N passed, N failed".
// A result file that is missing (jest crashed before writing it) counts as one failure.
import { existsSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
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
