/**
 * A configuration of many connections, as a large deployment's file looks: what the limit tests
 * and the template lint in CI (`npm run lint:templates`) synthesize.
 */
import { type BrokerConfig, parseBrokerConfig } from '../shared/config/schema';

/**
 * A configuration of `count` connections, alternating Astrato and OAuth 2.0 ones, with realistic
 * (long) URLs and scopes: what a large deployment's file looks like.
 */
export function generatedConfig(count: number): BrokerConfig {
  const connections: Record<string, unknown> = {};
  for (let i = 0; i < count; i += 1) {
    const id = `partner-${String(i).padStart(3, '0')}`;
    connections[id] =
      i % 2 === 0
        ? {
            kind: 'astrato-oem',
            baseUrl: `https://tenant-${i}.eu.astrato.io`,
            secretId: `ticket-broker/${id}`,
            embedUrlTemplate: '{baseUrl}/auth/proxy/oem/ticket/{ticketId}/embed',
          }
        : {
            kind: 'oauth2-client-credentials',
            tokenUrl: `https://identity-${i}.partner.example.com/auth/realms/partner-${i}/protocol/openid-connect/token`,
            clientAuth: 'client_secret_basic',
            scope: 'orders:read orders:write inventory:read',
            secretId: `ticket-broker/${id}`,
            probeUrl: `https://api-${i}.partner.example.com/oms-api/`,
            vendable: i % 4 === 1,
          };
  }
  return parseBrokerConfig({ connections, refresh: { hardSkewSeconds: 30, minWindowSeconds: 120 } });
}
