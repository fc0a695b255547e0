import { describeCallerPortsContract } from '../support/caller-ports-contract';
import {
  ManualClock,
  MemoryAuditTrail,
  MemoryCallerStore,
  MemoryLastUseStore,
  MemoryLeaseStore,
  MemoryTokenCache,
} from '../support/fakes';
import { describeTablePortsContract } from '../support/table-ports-contract';

// The in-memory fakes the unit tests use, held to the DynamoDB adapters' contract: the rules the
// unit tests rely on (a newer token is never replaced or removed, one lease holder, a caller created
// once) are the adapters' rules, run here on the fakes and in dynamodb-engines.test.ts on DynamoDB.
describe('in-memory fakes', () => {
  describeTablePortsContract(() => {
    const clock = new ManualClock();
    return {
      clock,
      cache: new MemoryTokenCache(clock),
      leases: new MemoryLeaseStore(clock),
      callers: new MemoryCallerStore(),
    };
  });
});

describeCallerPortsContract('in-memory fakes', async () => ({
  callers: new MemoryCallerStore(),
  lastUses: new MemoryLastUseStore(),
  audit: new MemoryAuditTrail(),
}));
