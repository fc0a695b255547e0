// Sums jest --json result files into the one line CI's counter reads: "N passed, N failed".
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
const files = process.argv.slice(2);
for (const file of files) {
  const result = JSON.parse(readFileSync(file, 'utf8'));
  passed += result.numPassedTests;
  failed += result.numFailedTests;
  // A suite that failed to run (syntax error, hook failure) has no failed tests but must count.
  failed += result.testResults.filter(
    (suite) => suite.status === 'failed' && suite.assertionResults.every((a) => a.status !== 'failed'),
  ).length;
}
if (files.length === 0) failed += 1;
console.log(`${passed} passed, ${failed} failed`);
