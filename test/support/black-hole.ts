import { createServer, type Socket } from 'node:net';

/**
 * A "black hole" on 127.0.0.1: accepts TCP connections, reads what is sent, and never answers,
 * as a partitioned or overloaded dependency does (a stopped stand-in refuses at once, which is the
 * easy failure). It records what arrived on each connection, so a test can count the requests a
 * client sent it and see what they were, without asserting on time.
 */
export interface BlackHole {
  /** Origin, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /** HTTP requests received so far (request lines seen), across every connection. */
  requests(): number;
  /** Everything received so far, per connection, as text. */
  received(): string[];
  /** Connections held open now (a client that gives up closes its own). */
  openConnections(): number;
  /** Resolves once at least `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  /** Destroys every held connection and closes the listener. */
  stop(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)(?:GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) \S+ HTTP\/1\.[01]\r\n/g;

/**
 * Starts a black hole, on `port` when given (to take the place of a stopped stand-in that clients
 * already point at), else on one the OS chooses, the way `listenOnLoopback` starts the others.
 */
export async function startBlackHole(port = 0): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  const texts: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const requests = () => texts.reduce((sum, text) => sum + (text.match(REQUEST_LINE)?.length ?? 0), 0);
  const server = createServer((socket) => {
    sockets.add(socket);
    const index = texts.push('') - 1;
    socket.on('data', (chunk: Buffer) => {
      texts[index] += chunk.toString('latin1');
      const seen = requests();
      for (const waiter of waiters.filter((w) => seen >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    // A client that gives up closes its end; the hole never writes a byte.
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    received: () => [...texts],
    openConnections: () => sockets.size,
    waitForRequests: (count) =>
      requests() >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return stopped;
    },
  };
}
