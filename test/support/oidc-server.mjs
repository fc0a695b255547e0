// A real, certified OAuth 2.0 server (oidc-provider) for interoperability tests, run as a child
// process on 127.0.0.1 (it is an ES module jest cannot load). It takes its clients as JSON in
// argv[2], prints "READY <issuer>" once listening, and exits when its stdin closes.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.argv[2] ?? '[]');
const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}/realms/interop`;

const provider = new Provider(issuer, {
  clients: clients.map((client) => ({
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    ...client,
  })),
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  routes: { token: '/protocol/openid-connect/token' },
  ttl: { ClientCredentials: 600 },
});
provider.proxy = false;
const callback = provider.callback();
// Mount under /realms/interop, as Keycloak serves a realm.
server.on('request', (req, res) => {
  if (!req.url.startsWith('/realms/interop')) {
    res.writeHead(404).end();
    return;
  }
  req.url = req.url.slice('/realms/interop'.length) || '/';
  callback(req, res);
});

process.stdout.write(`READY ${issuer}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
