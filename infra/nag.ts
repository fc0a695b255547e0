import { Stack } from 'aws-cdk-lib';
// cdk-nag's own function for the ids it reports (the package has no exports map: a file import).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
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
 * @see https://github.com/cdklabs/cdk-nag/blob/main/src/utils/flatten-cfn-reference.ts (cdk-nag's own rendering, used here)
 */
export function wildcardResourceFinding(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(resource))}]`;
}
