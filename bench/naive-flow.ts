/**
 * The vendor's sample flow, implemented plainly, as the baseline the broker is measured against:
 * for every ticket, a new m2m token (POST /auth/proxy/m2m/token), then /oem/setup. Served over
 * HTTP like the broker, so both are measured the same way.
 *
 *   node --import tsx bench/naive-flow.ts <astratoUrl> <clientId> <clientSecret>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [astratoUrl, clientId, clientSecret] = process.argv.slice(2);

const server = createServer(async (request, response) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    const user = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { email: string; groupIds?: string[] };
    const tokenResponse = await fetch(`${astratoUrl}/auth/proxy/m2m/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId, clientSecret }),
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const setupResponse = await fetch(`${astratoUrl}/oem/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(user),
    });
    const { ticket } = (await setupResponse.json()) as { ticket: string };
    response.writeHead(201, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({ ticketId: ticket, embedUrl: `${astratoUrl}/auth/proxy/oem/ticket/${ticket}/embed` }),
    );
  } catch (error) {
    response.writeHead(500, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: String(error) }));
  }
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
