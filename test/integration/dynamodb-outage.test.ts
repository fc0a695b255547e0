import { createTable, startDynamo } from '../../local/dynamodb';
import { addCaller, bearer, invoke, loadApiHandler } from '../support/api-harness';
import { eventually } from '../support/eventually';
import { OutputCapture } from '../support/log-capture';
import { TABLE_NAME, TestStack } from '../support/stack';

/**
 * DynamoDB unreachable while the API serves: what a caller sees on the routes that need the table
 * for more than the caller record.
 */
const output = new OutputCapture();
let stack: TestStack;

beforeAll(async () => {
  output.start();
  stack = await TestStack.start();
}, 30_000);

afterAll(async () => {
  output.stop();
  await stack?.stop();
});

describe('GET /v1/connections/{id}/status while DynamoDB is down', () => {
  it('answers 503 upstream_unavailable with Retry-After, not 500, and 200 again once it is back', async () => {
    const handler = await loadApiHandler(stack);
    const { key } = await addCaller(stack, { name: 'status reader', connections: ['oms'], tokens: true });
    const status = () =>
      invoke(handler, { method: 'GET', path: '/v1/connections/oms/status', headers: bearer(key) });
    // The caller record is read (and cached) while the table is up.
    expect((await status()).status).toBe(200);

    const { port } = stack.dynamo;
    await stack.dynamo.stop();
    try {
      const response = await status();
      expect(response.status).toBe(503);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body.code).toBe('upstream_unavailable');
      expect(response.headers['retry-after']).toBe('5');
    } finally {
      Object.assign(stack, { dynamo: await startDynamo({ port }) });
    }
    // dynalite in memory came back empty: the caller record is still cached, and the status reads
    // once the table is probed again after its back-off (shared/dependency-guard.ts).
    await createTable({ endpoint: stack.dynamo.endpoint, tableName: TABLE_NAME });
    const recovered = await eventually(async () => {
      const response = await status();
      if (response.status !== 200) throw new Error(`still ${response.status}`);
      return response;
    });
    expect(recovered.status).toBe(200);
  });
});
