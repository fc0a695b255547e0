/**
 * A small dependency-free SVG chart: the cumulative distribution of latencies per series, on a
 * logarithmic time axis (so the broker's ~50 ms and the naive flow's ~200 ms both read well).
 */
export interface Series {
  readonly label: string;
  readonly values: readonly number[];
  readonly color: string;
}

export function cdfChart(series: readonly Series[], title: string): string {
  const width = 760;
  const height = 380;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 50;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const minX = Math.max(1, Math.floor(Math.min(...all)));
  const maxX = Math.ceil(Math.max(...all));
  const lx = (v: number) => Math.log10(Math.max(v, minX));
  const x = (v: number) =>
    left + ((lx(v) - lx(minX)) / Math.max(1e-9, lx(maxX) - lx(minX))) * (width - left - right);
  const y = (fraction: number) => top + (1 - fraction) * (height - top - bottom);
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(minX)); decade <= maxX * 10; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m >= minX && decade * m <= maxX) ticks.push(decade * m);
  }
  const paths = series.map((s) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(sorted.length / 400));
    const points: string[] = [];
    for (let i = 0; i < sorted.length; i += step)
      points.push(`${x(sorted[i] as number).toFixed(1)},${y((i + 1) / sorted.length).toFixed(1)}`);
    points.push(`${x(sorted.at(-1) as number).toFixed(1)},${y(1).toFixed(1)}`);
    return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(' ')}"/>`;
  });
  // Legend in the middle band, right of the fastest curve's bulk.
  const legendX = x(Math.min(maxX, minX * 1.5));
  const legendY = y(0.62);
  const legend = series.map(
    (s, i) =>
      `<rect x="${legendX}" y="${legendY + 8 + i * 18}" width="12" height="3" fill="${s.color}"/><text x="${legendX + 18}" y="${legendY + 13 + i * 18}" font-size="12">${s.label}</text>`,
  );
  const grid = ticks.map(
    (t) =>
      `<line x1="${x(t).toFixed(1)}" y1="${top}" x2="${x(t).toFixed(1)}" y2="${height - bottom}" stroke="#ddd"/><text x="${x(t).toFixed(1)}" y="${height - bottom + 16}" font-size="11" text-anchor="middle">${t}</text>`,
  );
  const yTicks = [0, 0.5, 0.9, 0.99].map(
    (f) =>
      `<line x1="${left}" y1="${y(f).toFixed(1)}" x2="${width - right}" y2="${y(f).toFixed(1)}" stroke="#eee"/><text x="${left - 6}" y="${(y(f) + 4).toFixed(1)}" font-size="11" text-anchor="end">p${Math.round(f * 100)}</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${title}</text>
${grid.join('\n')}
${yTicks.join('\n')}
<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#333"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#333"/>
<text x="${width / 2}" y="${height - 12}" font-size="12" text-anchor="middle">latency, ms (log scale)</text>
${paths.join('\n')}
${legend.join('\n')}
</svg>
`;
}
