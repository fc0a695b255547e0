import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Most networks one caller may list: enough for a SaaS's egress ranges, small enough to read. */
export const MAX_SOURCE_CIDRS = 50;

/** A CIDR that cannot be stored, with the reason; the operators' command prints the message. */
export class InvalidCidrError extends Error {
  override readonly name = 'InvalidCidrError';
}

/**
 * One CIDR in its stored form: `203.0.113.0/24`, `2001:db8::/32`; a bare address is one host
 * (`/32`, `/128`). Parsed with Node's own `BlockList`, which also reads the network as the one
 * containing the address (`203.0.113.7/24` is `203.0.113.0/24`, as Kong's ip-restriction reads it).
 * @throws InvalidCidrError naming what is wrong
 * @see https://nodejs.org/api/net.html#class-netblocklist
 * @see https://www.rfc-editor.org/rfc/rfc4632 (CIDR notation)
 */
export function normalizeCidr(text: string): string {
  const trimmed = text.trim();
  const [address = '', prefixText, ...extra] = trimmed.split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined || extra.length > 0)
    throw new InvalidCidrError(
      `"${trimmed.slice(0, 60)}" is not an IPv4 or IPv6 CIDR (203.0.113.0/24, 2001:db8::/32)`,
    );
  const max = family === 'ipv4' ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))
    throw new InvalidCidrError(
      `"${trimmed.slice(0, 60)}": the prefix length must be a number from 0 to ${max}`,
    );
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max)
    throw new InvalidCidrError(
      `"${trimmed.slice(0, 60)}": the prefix length must be a number from 0 to ${max}`,
    );
  if (prefix === 0)
    throw new InvalidCidrError(
      `"${trimmed.slice(0, 60)}" allows every address: leave source networks out instead (--any-source)`,
    );
  // BlockList is the parser of record: whatever it refuses is refused here too.
  new BlockList().addSubnet(address, prefix, family);
  return `${address.toLowerCase()}/${prefix}`;
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
