import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The finding id cdk-nag's `AwsSolutions-IAM5` reports for a wildcard resource of an IAM
 * statement, e.g. `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:...:secret:P/*]`.
 * cdk-nag 3 acknowledges by this exact id, and the id holds the resource as synthesized in its
 * stack: references (`<AWS::Region>`) in an environment-agnostic stack, literals (`us-east-1`) in a
 * stack with an account and region. Built from the same value as the statement, so the
 * acknowledgment matches in every environment.
 * @param scope any construct of the stack that holds the statement
 * @param resource the statement's resource, as given to the PolicyStatement
 * @returns the id to pass to `Validations.of(...).acknowledge`
 * @see https://github.com/cdklabs/cdk-nag/blob/main/src/utils/flatten-cfn-reference.ts (how cdk-nag renders a reference)
 */
export function wildcardResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(resource))}]`;
}

/** cdk-nag's rendering of a resolved CloudFormation value: `Ref` as `<Name>`, `Fn::Join` joined. */
function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const object = node as Record<string, unknown> | null;
  if (object && 'Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(separator);
  }
  if (object && 'Fn::GetAtt' in object) {
    const [id, attribute] = object['Fn::GetAtt'] as [unknown, unknown];
    return `<${flatten(id)}.${flatten(attribute)}>`;
  }
  if (object && 'Ref' in object) return `<${flatten(object.Ref)}>`;
  return JSON.stringify(node);
}
