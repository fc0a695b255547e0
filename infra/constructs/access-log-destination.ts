import { ArnFormat, FeatureFlags, Stack } from 'aws-cdk-lib';
import type { AccessLogDestinationConfig, IAccessLogDestination, IStage } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { APIGATEWAY_LOG_GROUP_DESTINATION_ARN_WITHOUT_WILDCARD } from 'aws-cdk-lib/cx-api';

/**
 * A log group as an HTTP API stage's access-log destination, by the ARN API Gateway stores: without
 * the `:*` that `LogGroup.logGroupArn` carries. The CDK's own flag for this
 * (`@aws-cdk/aws-apigateway:logGroupDestinationArnWithoutWildcard`, set in cdk.json) reaches only
 * REST APIs' `LogGroupLogDestination`; this applies it to an HTTP API (apigatewayv2) stage too, so
 * drift detection stops reporting the stage as modified.
 */
export class LogGroupAccessLogDestination implements IAccessLogDestination {
  constructor(private readonly logGroup: ILogGroup) {}

  bind(stage: IStage): AccessLogDestinationConfig {
    if (!FeatureFlags.of(stage).isEnabled(APIGATEWAY_LOG_GROUP_DESTINATION_ARN_WITHOUT_WILDCARD))
      return { destinationArn: this.logGroup.logGroupArn };
    return {
      destinationArn: Stack.of(this.logGroup).formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: this.logGroup.logGroupName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    };
  }
}
