import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { parseCidr } from './cidr';

/** IPv4 written inside IPv6 (`::ffff:203.0.113.7`), as a dual-stack socket reports an IPv4 peer. */
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The networks a caller's requests may come from, checked against API Gateway's
 * `requestContext.http.sourceIp` (the address of the TCP peer API Gateway saw, not a header a
 * client can set). IPv4 and IPv6; an IPv4-mapped IPv6 address counts as its IPv4 address.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
export class SourceNetworks {
  private list = new BlockList();

  /**
   * Parsed once, when the caller record is read.
   * @param cidrs stored CIDRs, each read by `parseCidr` (shared/callers/cidr.ts), the reading the
   *   operators' command checked them with when it wrote them. An entry that does not parse or
   *   allows every address (`/0`), which only a record edited by hand can hold, leaves networks
   *   that allow no address: the caller is refused, never let through from anywhere.
   */
  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (typeof cidr === 'string') {
        this.list = new BlockList();
        return;
      }
      this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
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
