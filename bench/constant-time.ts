/**
 * `npm run bench:constant-time`: the timing side of the caller-key comparison, measured (the test,
 * test/unit/constant-time.test.ts, counts the work instead, so that a loaded machine cannot fail it).
 *
 * Times `constantTimeEqual` against a 64-character secret when 0 and when 63 leading characters
 * match, in interleaved batches, and reports the ratio of the medians; goal 0.8 to 1.25. For
 * reference it times a naive early-exit comparison the same way (about 45x on these machines).
 * Writes bench/results/constant-time.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { constantTimeEqual } from '../shared/callers/keys';

function earlyExitEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

function nanosPerCall(
  equal: (a: string, b: string) => boolean,
  a: string,
  b: string,
  iterations: number,
): number {
  const started = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < iterations; i++) if (equal(a, b)) sink++;
  const elapsed = Number(process.hrtime.bigint() - started);
  if (sink < 0) throw new Error('unreachable');
  return elapsed / iterations;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function ratio(equal: (a: string, b: string) => boolean, iterations: number) {
  const secret = 'a'.repeat(64);
  const noneMatch = `b${'a'.repeat(63)}`;
  const allButLast = `${'a'.repeat(63)}b`;
  nanosPerCall(equal, secret, noneMatch, iterations * 10); // warm up
  const early: number[] = [];
  const late: number[] = [];
  for (let batch = 0; batch < 51; batch++) {
    early.push(nanosPerCall(equal, secret, noneMatch, iterations));
    late.push(nanosPerCall(equal, secret, allButLast, iterations));
  }
  return {
    nsNoneMatch: Number(median(early).toFixed(1)),
    nsAllButLastMatch: Number(median(late).toFixed(1)),
    ratio: Number((median(late) / median(early)).toFixed(3)),
  };
}

const broker = ratio(constantTimeEqual, 2_000);
const naive = ratio(earlyExitEqual, 200_000);
const met = broker.ratio > 0.8 && broker.ratio < 1.25;
const result = {
  date: new Date().toISOString(),
  goal: '0.8 < ratio < 1.25',
  met,
  constantTimeEqual: broker,
  earlyExitReference: naive,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/constant-time.json', `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(
  `constantTimeEqual: ${broker.nsNoneMatch} ns (0 match) vs ${broker.nsAllButLastMatch} ns (63 match), ratio ${broker.ratio} (goal 0.8-1.25: ${met ? 'met' : 'MISSED'})\n` +
    `early-exit reference: ratio ${naive.ratio}\n`,
);
process.exitCode = met ? 0 : 1;
