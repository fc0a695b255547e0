// Runs the browser helper as built (an ES module file, argv[2]) in this fresh Node process, on the
// smallest stand-ins of what it uses from a browser (fetch, window, document, an iframe), and
// prints one line: RESULT <json> with what it did, or ERROR <message>. The module's imports are
// read by V8's own parser (vm.SourceTextModule, under --experimental-vm-modules).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SourceTextModule } from 'node:vm';

const fetches = [];
const windowListeners = new Map();
globalThis.fetch = async (url, init) => {
  fetches.push({ url: String(url), init });
  return { ok: true, status: 200, body: null, json: async () => ({ email: 'ada@example.com' }) };
};
globalThis.window = {
  location: { href: 'https://saas.example/app' },
  addEventListener: (type, listener) =>
    windowListeners.set(type, [...(windowListeners.get(type) ?? []), listener]),
  removeEventListener: (type, listener) =>
    windowListeners.set(
      type,
      (windowListeners.get(type) ?? []).filter((each) => each !== listener),
    ),
  open: () => null,
};
const frames = [];
globalThis.document = {
  createElement: (tag) => {
    const listeners = new Map();
    const element = {
      tag,
      src: '',
      title: '',
      contentWindow: { frameOf: frames.length },
      addEventListener: (type, listener) => listeners.set(type, [...(listeners.get(type) ?? []), listener]),
      remove() {
        this.removed = true;
      },
      fire: (type) => {
        for (const listener of listeners.get(type) ?? []) listener({});
      },
    };
    frames.push(element);
    return element;
  },
};
const message = (event) => {
  for (const listener of windowListeners.get('message') ?? []) listener(event);
};

try {
  const imports = new SourceTextModule(readFileSync(process.argv[2], 'utf8')).dependencySpecifiers;
  const helper = await import(pathToFileURL(process.argv[2]).href);
  const exports = Object.keys(helper).sort();

  await helper.signOutOfAstrato('https://tenant.example/auth/proxy/0/sign_out');
  const signOut = fetches.shift();

  const states = [];
  const container = { replaceChildren: (child) => (container.child = child) };
  const embed = helper.createAstratoEmbed({
    container,
    dashboardUrl: 'https://tenant.example/dashboard',
    onStateChange: (state) => states.push(state.status),
  });
  const embedding = embed.embed({
    redeemUrl: 'https://tenant.example/auth/proxy/oem/ticket/t1?embed',
    embedUrl: 'https://tenant.example/auth/proxy/oem/ticket/t1/embed',
    signOutUrl: 'https://tenant.example/auth/proxy/0/sign_out',
  });
  while (!container.child) await new Promise((resolve) => setImmediate(resolve));
  const redemption = fetches.shift();
  const frame = container.child;
  frame.fire('load');
  await embedding;
  // Messages the helper must ignore: another window, another origin, other shapes.
  const vendor = { source: frame.contentWindow, origin: 'https://tenant.example' };
  message({ ...vendor, source: {}, data: { type: 'Astrato', message: '401Error' } });
  message({ ...vendor, origin: 'https://evil.example', data: { type: 'Astrato', message: '401Error' } });
  message({ ...vendor, data: { type: 'Astrato', message: 'loaded' } });
  message({ ...vendor, data: '401Error' });
  message({ ...vendor, data: { type: 'Other', message: '401Error' } });
  const afterOthers = embed.state.status;
  // The one the vendor's sample page listens for.
  message({ ...vendor, data: { type: 'Astrato', message: '401Error' } });
  process.stdout.write(
    `RESULT ${JSON.stringify({
      imports,
      exports,
      signOut,
      redemption,
      frameSrc: frame.src,
      afterOthers,
      states,
      otherRequests: fetches,
    })}\n`,
  );
} catch (error) {
  process.stdout.write(`ERROR ${error?.stack ?? error}\n`);
  process.exitCode = 1;
}
