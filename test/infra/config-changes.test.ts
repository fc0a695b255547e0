import type { Template } from 'aws-cdk-lib/assertions';
import type { BrokerConfig } from '../../shared/config/schema';
import { exampleConfig, synthesize } from './support';

/**
 * Each kind of configuration change, as CloudFormation would apply it to a deployed pair of stacks:
 * synthesize the configuration before and after, and compare. A change must leave the stateful
 * stack's exports as they were (an export the API stack imports cannot change: "export in use"),
 * replace no stateful resource, and never create a secret under a name a retained one still holds.
 */
type Resources = Record<
  string,
  { Type: string; DeletionPolicy?: string; Properties?: Record<string, unknown> }
>;

/** Properties whose change makes CloudFormation replace the resource, per stateful type. */
const REPLACING: Record<string, readonly string[]> = {
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::DynamoDB::Table': ['TableName', 'KeySchema'],
  'AWS::KMS::Key': ['KeySpec', 'KeyUsage', 'MultiRegion'],
};

function exportsOf(template: Template): Record<string, unknown> {
  const outputs = template.findOutputs('*') as Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  return Object.fromEntries(
    Object.values(outputs)
      .filter((output) => output.Export)
      .map((output) => [JSON.stringify(output.Export?.Name), output.Value]),
  );
}

function importsOf(template: Template): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'Fn::ImportValue') found.add(JSON.stringify(inner));
        walk(inner);
      }
    }
  };
  walk(template.toJSON());
  return [...found].sort();
}

interface Change {
  readonly exportsChanged: boolean;
  readonly importsChanged: boolean;
  readonly importsNotExported: string[];
  readonly replaced: string[];
  readonly removedNotRetained: string[];
  readonly namesStillTaken: string[];
  readonly secretIds: { before: string[]; after: string[] };
}

let synthesizedBefore: ReturnType<typeof synthesize> | undefined;

function change(after: BrokerConfig): Change {
  synthesizedBefore ??= synthesize(exampleConfig);
  const old = synthesizedBefore;
  const next = synthesize(after);
  const before = (old.stateful.toJSON() as { Resources: Resources }).Resources;
  const now = (next.stateful.toJSON() as { Resources: Resources }).Resources;
  const replaced = Object.entries(now)
    .filter(([id]) => before[id])
    .flatMap(([id, resource]) =>
      (REPLACING[resource.Type] ?? [])
        .filter(
          (property) =>
            JSON.stringify(resource.Properties?.[property]) !==
            JSON.stringify(before[id]?.Properties?.[property]),
        )
        .map((property) => `${id}.${property}`),
    );
  const removed = Object.keys(before).filter((id) => !now[id]);
  const secretName = (resource: Resources[string] | undefined) =>
    resource?.Type === 'AWS::SecretsManager::Secret' ? String(resource.Properties?.Name) : undefined;
  const retainedNames = new Set(removed.map((id) => secretName(before[id])).filter(Boolean));
  const added = Object.keys(now).filter((id) => !before[id]);
  const secretIds = (resources: Resources) =>
    Object.entries(resources)
      .filter(([, resource]) => resource.Type === 'AWS::SecretsManager::Secret')
      .map(([id]) => id)
      .sort();
  const nextExports = exportsOf(next.stateful);
  return {
    exportsChanged: JSON.stringify(exportsOf(old.stateful)) !== JSON.stringify(nextExports),
    importsChanged: JSON.stringify(importsOf(old.stateless)) !== JSON.stringify(importsOf(next.stateless)),
    importsNotExported: importsOf(next.stateless).filter((name) => !(name in nextExports)),
    replaced,
    removedNotRetained: removed.filter((id) => before[id]?.DeletionPolicy !== 'Retain'),
    namesStillTaken: added
      .map((id) => secretName(now[id]))
      .filter((name): name is string => !!name && retainedNames.has(name)),
    secretIds: { before: secretIds(before), after: secretIds(now) },
  };
}

const connections = exampleConfig.connections;
const oms = connections.oms as BrokerConfig['connections'][string];
const astrato = connections.astrato as BrokerConfig['connections'][string];

const clean = {
  exportsChanged: false,
  importsChanged: false,
  importsNotExported: [],
  replaced: [],
  removedNotRetained: [],
  namesStillTaken: [],
};

describe('configuration changes deploy cleanly', () => {
  it('a connection gets another secretId: a new secret, the old one retained, no export touched', () => {
    const result = change({
      ...exampleConfig,
      connections: { astrato, oms: { ...oms, secretId: 'ticket-broker/oms-2026' } },
    });
    expect(result).toMatchObject(clean);
    expect(result.secretIds.after).not.toEqual(result.secretIds.before);
  });

  it('a connection is renamed and keeps its secretId: the same secret resource, nothing replaced', () => {
    const result = change({ ...exampleConfig, connections: { astrato, orders: oms } });
    expect(result).toMatchObject(clean);
    expect(result.secretIds.after).toEqual(result.secretIds.before);
  });

  it('a connection is added', () => {
    const result = change({
      ...exampleConfig,
      connections: { ...connections, billing: { ...oms, secretId: 'ticket-broker/billing' } },
    });
    expect(result).toMatchObject(clean);
    expect(result.secretIds.after).toHaveLength(3);
  });

  it('a connection is removed: its secret is retained', () => {
    const result = change({ ...exampleConfig, connections: { astrato } });
    expect(result).toMatchObject(clean);
    expect(result.secretIds.after).toHaveLength(1);
  });

  it('the API stack imports only what does not depend on connections: the table and the key', () => {
    const names = importsOf(synthesize().stateless);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).toMatch(/Table|Key/);
    expect(names.join()).not.toMatch(/Secret/);
  });
});
