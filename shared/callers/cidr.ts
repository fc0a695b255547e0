import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Most networks one caller may list: enough for a SaaS's egress ranges, small enough to read. */
export const MAX_SOURCE_CIDRS = 50;

/** A CIDR that cannot be stored, with the reason; the operators' command prints the message. */
export class InvalidCidrError extends Error {
  override readonly name = 'InvalidCidrError';
}

/** One network, read: its address as written, prefix length and family. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Why a text is no CIDR the broker takes; {@link normalizeCidr} says it in words. */
export type CidrProblem = 'not-a-cidr' | 'bad-prefix' | 'every-address';

/**
 * Reads one CIDR (`203.0.113.0/24`, `2001:db8::/32`; a bare address is one host, `/32` or
 * `/128`), or says why it is none: the one reading of a CIDR, for the operators' command
 * ({@link normalizeCidr}) and for the records the functions read (`SourceNetworks`) alike. A
 * prefix of 0 allows every address and is refused.
 */
export function parseCidr(text: string): Cidr | CidrProblem {
  const [address = '', prefixText, ...extra] = text.trim().split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined || extra.length > 0) return 'not-a-cidr';
  const max = family === 'ipv4' ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return 'bad-prefix';
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return 'bad-prefix';
  if (prefix === 0) return 'every-address';
  return { address, prefix, family };
}

/**
 * One CIDR in its stored form: `203.0.113.0/24`, `2001:db8::/32`; a bare address is one host
 * (`/32`, `/128`). Read by {@link parseCidr}, then by Node's own `BlockList`, which also reads the
 * network as the one containing the address (`203.0.113.7/24` is `203.0.113.0/24`, as Kong's
 * ip-restriction reads it).
 * @throws InvalidCidrError naming what is wrong
 * @see https://nodejs.org/api/net.html#class-netblocklist
 * @see https://www.rfc-editor.org/rfc/rfc4632 (CIDR notation)
 */
export function normalizeCidr(text: string): string {
  const trimmed = text.trim();
  const shown = trimmed.slice(0, 60);
  const cidr = parseCidr(trimmed);
  if (cidr === 'not-a-cidr')
    throw new InvalidCidrError(`"${shown}" is not an IPv4 or IPv6 CIDR (203.0.113.0/24, 2001:db8::/32)`);
  if (cidr === 'bad-prefix') {
    const max = isIPv4(trimmed.split('/')[0] ?? '') ? 32 : 128;
    throw new InvalidCidrError(`"${shown}": the prefix length must be a number from 0 to ${max}`);
  }
  if (cidr === 'every-address')
    throw new InvalidCidrError(
      `"${shown}" allows every address: leave source networks out instead (--any-source)`,
    );
  // BlockList is the parser of record: whatever it refuses is refused here too.
  new BlockList().addSubnet(cidr.address, cidr.prefix, cidr.family);
  return `${cidr.address.toLowerCase()}/${cidr.prefix}`;
}

/**
 * A caller's source networks as written (deduplicated, in order), each checked.
 * @throws InvalidCidrError for an empty list, too many entries, or a bad one (named)
 */
export function normalizeCidrs(list: readonly string[]): string[] {
  const cidrs = [...new Set(list.map(normalizeCidr))];
  if (cidrs.length === 0) throw new InvalidCidrError('at least one CIDR is required');
  if (cidrs.length > MAX_SOURCE_CIDRS)
    throw new InvalidCidrError(`at most ${MAX_SOURCE_CIDRS} source CIDRs per caller (got ${cidrs.length})`);
  return cidrs;
}
