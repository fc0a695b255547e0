import { describeCallerPortsContract } from '../support/caller-ports-contract';
import { MemoryAuditTrail, MemoryCallerStore, MemoryLastUseStore } from '../support/fakes';

// The in-memory fakes the unit tests use, held to the DynamoDB adapters' contract.
describeCallerPortsContract('in-memory fakes', async () => ({
  callers: new MemoryCallerStore(),
  lastUses: new MemoryLastUseStore(),
  audit: new MemoryAuditTrail(),
}));
