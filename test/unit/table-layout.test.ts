import { readFileSync } from 'node:fs';
import {
  GROUP_INDEX,
  groupKeys,
  KEY_PREFIXES,
  TABLE_ATTRIBUTES,
  tableKeys,
} from '../../shared/adapters/table';

/**
 * shared/adapters/table.ts is the one place the table's layout is written; the adapters, the CDK
 * stack, the IAM conditions and the local stand-ins import it. docs/design.md "DynamoDB table" is
 * the contract other tools read, so the two must say the same: renaming an attribute or a prefix
 * would orphan every item of a deployed table, and is a contract change, made in both at once.
 */
const design = readFileSync('docs/design.md', 'utf8');

/** The text of one `## ` section of the design. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "${heading}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

/** Every layout name the design must show, each as it is written there (`code`). */
function layoutNames(): string[] {
  return [
    TABLE_ATTRIBUTES.partitionKey,
    TABLE_ATTRIBUTES.ttl,
    GROUP_INDEX.name,
    GROUP_INDEX.partitionKey,
    GROUP_INDEX.sortKey,
    groupKeys.callers,
    groupKeys.lastUses,
    groupKeys.auditDay('<UTC day>'),
    ...Object.values(KEY_PREFIXES),
  ];
}

/**
 * The names the text does not show in backticks, alone (`pk`) or as the start of a documented key
 * (`token#<connection>`, `meta#callers-indexed`).
 */
function missingFrom(text: string): string[] {
  const shown = (name: string) =>
    text.includes(`\`${name}\``) || (name.endsWith('#') && text.includes(`\`${name}`));
  return layoutNames().filter((name) => !shown(name));
}

describe('the table layout', () => {
  it('is the one docs/design.md "DynamoDB table" documents: attributes, index, groups and key prefixes', () => {
    expect(missingFrom(section(design, 'DynamoDB table'))).toEqual([]);
    // Each kind of item's key is its prefix and its id, as the design's table writes them.
    expect(tableKeys.token('oms')).toBe(`${KEY_PREFIXES.token}oms`);
  });

  it('negative control: a design that renamed the TTL attribute and a prefix fails the check', () => {
    const renamed = section(design, 'DynamoDB table')
      .replaceAll(`\`${TABLE_ATTRIBUTES.ttl}\``, '`expires`')
      .replaceAll(`\`${KEY_PREFIXES.lease}`, '`lock#');
    expect(missingFrom(renamed)).toEqual([TABLE_ATTRIBUTES.ttl, KEY_PREFIXES.lease]);
  });
});
