import type { AuditReader, AuditRecord, AuditTrail } from '../../shared/audit/audit-trail';
import type { CallerRecord, CallerStore, LastUseStore } from '../../shared/callers/caller';
import { noDeadline } from './fakes';

/** One implementation of the ports issue 20 added or changed, fresh and empty. */
export interface CallerPorts {
  readonly callers: CallerStore;
  readonly lastUses: LastUseStore;
  readonly audit: AuditTrail & AuditReader;
}

/**
 * The contract of the caller, last-use and audit ports, run against the DynamoDB adapters (on
 * dynalite and DynamoDB Local) and against the in-memory fakes the unit tests use: a fake whose rules
 * differed from the adapter's would fail here, so its tests stay evidence.
 */
export function describeCallerPortsContract(name: string, make: () => Promise<CallerPorts>): void {
  describe(`caller ports contract: ${name}`, () => {
    const record = (keyId: string, createdAt: string, extra: Partial<CallerRecord> = {}): CallerRecord => ({
      keyId,
      name: `caller ${keyId}`,
      secretHash: 'ab'.repeat(32),
      scopes: {},
      disabled: false,
      createdAt,
      ...extra,
    });

    it('callers: rotation fields, a replacement recorded once, networks set and removed', async () => {
      const { callers } = await make();
      await callers.create(
        record('KEYA000000000001', '2026-11-22T10:00:00.000Z', { sourceCidrs: ['10.0.0.0/8'] }),
        noDeadline,
      );
      await expect(
        callers.create(record('KEYA000000000001', '2026-11-22T11:00:00.000Z'), noDeadline),
      ).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
      const change = { expiresAt: '2026-11-23T10:00:00.000Z', replacedBy: 'KEYB000000000001' };
      expect(await callers.update('KEYA000000000001', change, noDeadline)).toBe(true);
      expect(
        await callers.update('KEYA000000000001', { ...change, replacedBy: 'KEYC000000000001' }, noDeadline),
      ).toBe(false);
      expect(await callers.get('KEYA000000000001', noDeadline)).toEqual(
        record('KEYA000000000001', '2026-11-22T10:00:00.000Z', { sourceCidrs: ['10.0.0.0/8'], ...change }),
      );
      expect(await callers.update('KEYA000000000001', { sourceCidrs: ['2001:db8::/32'] }, noDeadline)).toBe(
        true,
      );
      expect((await callers.get('KEYA000000000001', noDeadline))?.sourceCidrs).toEqual(['2001:db8::/32']);
      expect(await callers.update('KEYA000000000001', { sourceCidrs: null }, noDeadline)).toBe(true);
      expect((await callers.get('KEYA000000000001', noDeadline))?.sourceCidrs).toBeUndefined();
      expect(await callers.update('NOSUCHKEY0000000', { sourceCidrs: null }, noDeadline)).toBe(false);
      expect(await callers.get('NOSUCHKEY0000000', noDeadline)).toBeUndefined();
      await callers.create(record('KEY0000000000000', '2026-11-21T10:00:00.000Z'), noDeadline);
      expect((await callers.list(noDeadline)).map((caller) => caller.keyId)).toEqual([
        'KEY0000000000000',
        'KEYA000000000001',
      ]);
      // The second list reads what the first (on a new table) indexed.
      expect((await callers.list(noDeadline)).map((caller) => caller.keyId)).toEqual([
        'KEY0000000000000',
        'KEYA000000000001',
      ]);
    });

    it('last uses: the latest is kept, a late write never moves it back', async () => {
      const { lastUses } = await make();
      expect(await lastUses.list(noDeadline)).toEqual(new Map());
      await lastUses.record('KEYA', 2_000, noDeadline);
      await lastUses.record('KEYA', 1_000, noDeadline);
      await lastUses.record('KEYB', 5_000, noDeadline);
      await lastUses.record('KEYB', 6_000, noDeadline);
      expect(await lastUses.list(noDeadline)).toEqual(
        new Map([
          ['KEYA', 2_000],
          ['KEYB', 6_000],
        ]),
      );
    });

    it('audit: a time range across days, oldest first, by caller and email, cut at the limit', async () => {
      const { audit } = await make();
      const entry = (at: string, requestId: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({
        at,
        requestId,
        action: 'ticket',
        outcome: 'ticket_issued',
        callerKeyId: 'KEYA',
        callerName: 'Acme',
        sourceIp: '203.0.113.1',
        connection: 'astrato',
        email: 'ada@example.com',
        groupIds: ['sales'],
        groupNames: [],
        ...extra,
      });
      const records = [
        entry('2026-11-21T23:59:59.999Z', 'r1'),
        entry('2026-11-22T00:00:00.000Z', 'r2', { callerKeyId: 'KEYB', email: 'bob@example.com' }),
        entry('2026-11-22T10:00:00.000Z', 'r3', { outcome: 'ticket_failed', error: 'upstream_timeout' }),
        entry('2026-11-22T10:00:00.000Z', 'r4', {
          action: 'token',
          outcome: 'token_vended',
          connection: 'oms',
          email: undefined,
          groupIds: undefined,
          groupNames: undefined,
        }),
        entry('2026-11-23T00:00:00.000Z', 'r5', { outcome: 'forbidden', detail: 'no' }),
      ].map((record) => JSON.parse(JSON.stringify(record)) as AuditRecord);
      for (const record of [...records].reverse()) await audit.append(record, noDeadline);
      const range = {
        since: Date.parse('2026-11-21T12:00:00Z'),
        until: Date.parse('2026-11-23T00:00:00Z'),
        limit: 100,
      };
      expect(await audit.query(range, noDeadline)).toEqual({
        records: records.slice(0, 4),
        truncated: false,
      });
      expect((await audit.query({ ...range, callerKeyId: 'KEYB' }, noDeadline)).records).toEqual([
        records[1],
      ]);
      expect((await audit.query({ ...range, email: 'ADA@example.com' }, noDeadline)).records).toEqual([
        records[0],
        records[2],
      ]);
      expect(await audit.query({ ...range, limit: 2 }, noDeadline)).toEqual({
        records: records.slice(0, 2),
        truncated: true,
      });
      expect(
        (
          await audit.query(
            {
              ...range,
              since: Date.parse('2026-11-22T10:00:00Z'),
              until: Date.parse('2026-11-24T00:00:00Z'),
            },
            noDeadline,
          )
        ).records,
      ).toEqual(records.slice(2));
    });
  });
}
