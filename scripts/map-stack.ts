/**
 * `npm run map-stack -- <index.js.map> < stack.txt`: turns a stack trace logged by a deployed
 * function (positions in the minified bundle) back into source files, lines and names, with the
 * source map shipped beside the bundle (`index.js.map` in the function's code, or in `cdk.out`
 * for the same build). The functions run without `--enable-source-maps`: it made every cold start
 * parse the whole map.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';

const [mapPath] = process.argv.slice(2);
if (!mapPath) {
  process.stderr.write('usage: npm run map-stack -- <index.js.map> < stack.txt\n');
  process.exit(2);
}
const map = new SourceMap(JSON.parse(readFileSync(mapPath, 'utf8')));
const input = readFileSync(0, 'utf8');
// `at fn (/var/task/index.js:1:2345)` or `at /var/task/index.js:1:2345`
const frame = /(\S*index\.js):(\d+):(\d+)/g;
process.stdout.write(
  input.replace(frame, (whole, _file: string, line: string, column: string) => {
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!entry || !('originalSource' in entry) || !entry.originalSource) return whole;
    const name = 'name' in entry && typeof entry.name === 'string' ? ` ${entry.name}` : '';
    return `${entry.originalSource}:${entry.originalLine + 1}:${entry.originalColumn + 1}${name}`;
  }),
);
