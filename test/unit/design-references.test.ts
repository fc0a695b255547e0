import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * docs/design.md is the design of record inside the repository: every citation of it names a
 * section that exists, and nothing points at a design or toolchain note outside the repository
 * (a newcomer who clones it could not read one).
 */
const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((file) => file !== '' && !file.endsWith('package-lock.json') && !/\.(svg|png|json)$/.test(file));
const design = readFileSync('docs/design.md', 'utf8');
const headings = new Set([...design.matchAll(/^#{1,4} (.+)$/gm)].map((match) => match[1]?.trim()));

describe('docs/design.md references', () => {
  it('every section a file cites exists in docs/design.md', () => {
    const cited: { file: string; section: string }[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/docs\/design\.md(?:’s)? "([^"]+)"/g)) {
        cited.push({ file, section: match[1] ?? '' });
      }
    }
    expect(cited.length).toBeGreaterThan(10);
    expect(cited.filter(({ section }) => !headings.has(section))).toEqual([]);
  });

  it('no file points at a document outside the repository', () => {
    const outside = files.filter((file) =>
      /DESIGN\.md|TOOLCHAIN\.md|STYLE\.md|(^|[^.])\.\.\/shared\/[A-Z]/.test(readFileSync(file, 'utf8')),
    );
    expect(outside).toEqual([]);
  });
});
