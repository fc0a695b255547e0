// Loads a bundled handler in this (fresh) Node process, invokes it once with the event given as
// JSON in argv[3] and a Lambda-shaped context, and prints one line: RESULT <json> or ERROR <message>.
const started = process.hrtime.bigint();
const { handler } = require(process.argv[2]);
const event = JSON.parse(process.argv[3]);
const deadline = Date.now() + 15000;
const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'bundle-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bundle-test',
  memoryLimitInMB: '512',
  awsRequestId: 'bundle-test-request',
  logGroupName: '/aws/lambda/bundle-test',
  logStreamName: 'bundle-test',
  getRemainingTimeInMillis: () => deadline - Date.now(),
};
handler(event, context).then(
  (result) => {
    const loadAndServeMs = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(`RESULT ${JSON.stringify({ node: process.version, loadAndServeMs, result })}\n`);
  },
  (error) => {
    process.stdout.write(`ERROR ${error?.message}\n`);
    process.exitCode = 1;
  },
);
