import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { normalizeCidr } from './cidr';

/** IPv4 written inside IPv6 (`::ffff:203.0.113.7`), as a dual-stack socket reports an IPv4 peer. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The networks a caller's requests may come from, checked against API Gateway's
 * `requestContext.http.sourceIp` (the address of the TCP peer API Gateway saw, not a header a
 * client can set). IPv4 and IPv6; an IPv4-mapped IPv6 address counts as its IPv4 address.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
export class SourceNetworks {
  private readonly list = new BlockList();

  /** The networks, in `normalizeCidr`'s form: a bare address is its one host (`/32`, `/128`). */
  readonly cidrs: readonly string[];

  /**
   * @param cidrs stored CIDRs, each read by `normalizeCidr` (shared/callers/cidr.ts), the parser
   *   that checked them when they were written: a record edited by hand gets no other reading
   * @throws InvalidCidrError when one does not parse or allows every address (`/0`): the caller
   *   must then be refused
   */
  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs.map(normalizeCidr);
    for (const cidr of this.cidrs) {
      const [address = '', prefix = ''] = cidr.split('/');
      this.list.addSubnet(address, Number(prefix), isIPv4(address) ? 'ipv4' : 'ipv6');
    }
  }

  /**
   * A caller record's stored networks, parsed once when the record is read. An entry that does not
   * parse (a record edited by hand; the command checks every CIDR it writes) gives networks that
   * allow no address: the caller is refused, never let through from anywhere.
   */
  static stored(cidrs: readonly string[]): SourceNetworks {
    try {
      return new SourceNetworks(cidrs);
    } catch {
      return new SourceNetworks([]);
    }
  }

  /** Whether `sourceIp` is inside one of the networks; an address that is not an IP is not. */
  allows(sourceIp: string): boolean {
    const mapped = IPV4_MAPPED.exec(sourceIp)?.[1];
    const address = mapped ?? sourceIp;
    if (isIPv4(address)) return this.list.check(address, 'ipv4');
    if (isIPv6(address)) return this.list.check(address, 'ipv6');
    return false;
  }
}
