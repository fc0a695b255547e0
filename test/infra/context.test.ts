import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { FLAGS } from 'aws-cdk-lib/cx-api';
import { buildBrokerStacks } from '../../infra/broker-app';
import { optionsFromContext } from '../../infra/context';
import { InvalidPropsError } from '../../infra/errors';
import { exampleConfig, newApp, synthesize } from './support';

/** The deployment choices a platform team makes with `-c name=value`, as the app reads them. */
function synthesizeWith(context: Record<string, string>) {
  const app = newApp();
  const { configPath: _configPath, ...options } = optionsFromContext((name) => context[name]);
  const stacks = buildBrokerStacks(app, exampleConfig, options);
  return {
    stacks,
    stateless: Template.fromStack(stacks.stateless),
    stateful: Template.fromStack(stacks.stateful),
  };
}

describe('throttling', () => {
  it('defaults to today’s 50 requests/s with bursts of 100', () => {
    synthesizeWith({}).stateless.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 }),
    });
  });

  it('takes -c throttleRate and -c throttleBurst', () => {
    synthesizeWith({ throttleRate: '200', throttleBurst: '400' }).stateless.hasResourceProperties(
      'AWS::ApiGatewayV2::Stage',
      { DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 }) },
    );
  });

  it('refuses a value that is not a number, naming the flag', () => {
    expect(() => optionsFromContext((name) => (name === 'throttleRate' ? 'fast' : undefined))).toThrow(
      '-c throttleRate=fast: a positive number is expected',
    );
  });
});

describe('provisioned concurrency', () => {
  it('none by default: the API invokes the function itself', () => {
    const { stateless } = synthesizeWith({});
    stateless.resourceCountIs('AWS::Lambda::Alias', 0);
    stateless.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationUri: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IssueTicket'), 'Arn'] },
    });
  });

  it('-c provisionedConcurrency=5: a `live` alias of the ticket function with 5, and the API invokes the alias', () => {
    const { stateless } = synthesizeWith({ provisionedConcurrency: '5' });
    stateless.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      FunctionName: { Ref: Match.stringLikeRegexp('^IssueTicket') },
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 5 },
    });
    const alias = Object.keys(stateless.findResources('AWS::Lambda::Alias'))[0] as string;
    stateless.allResourcesProperties('AWS::ApiGatewayV2::Integration', { IntegrationUri: { Ref: alias } });
    stateless.hasResourceProperties('AWS::Lambda::Permission', { FunctionName: { Ref: alias } });
  });

  it('refuses 0 and fractions', () => {
    expect(() => synthesizeWith({ provisionedConcurrency: '0' })).toThrow(InvalidPropsError);
    expect(() => synthesizeWith({ provisionedConcurrency: '1.5' })).toThrow(
      'provisionedConcurrency must be an integer',
    );
  });
});

describe('custom domain', () => {
  const domain = {
    domainName: 'broker.example.com',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
  };

  it('none by default', () => {
    synthesizeWith({}).stateless.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
  });

  it('-c domainName, -c certificateArn and -c domainPath: a regional domain and an API mapping with that path', () => {
    const { stateless } = synthesizeWith({ ...domain, domainPath: 'broker' });
    stateless.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'broker.example.com',
      DomainNameConfigurations: [
        Match.objectLike({ CertificateArn: domain.certificateArn, EndpointType: 'REGIONAL' }),
      ],
    });
    stateless.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', {
      ApiId: { Ref: Match.stringLikeRegexp('^Api') },
      ApiMappingKey: 'broker',
      Stage: '$default',
    });
    stateless.hasOutput('CustomDomainUrl', { Value: 'https://broker.example.com/broker' });
    stateless.hasOutput('CustomDomainTarget', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CustomDomain'), 'RegionalDomainName'] },
    });
    // The default endpoint stays: both reach the same routes.
    stateless.hasOutput('ApiUrl', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Api'), 'ApiEndpoint'] },
    });
  });

  it('without a path, the mapping is the domain’s root', () => {
    const { stateless } = synthesizeWith(domain);
    stateless.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', { ApiMappingKey: Match.absent() });
  });

  it('refuses a domain without its certificate, a path without a domain, and bad values', () => {
    expect(() => synthesizeWith({ domainName: domain.domainName })).toThrow('give both or neither');
    expect(() => synthesizeWith({ domainPath: 'broker' })).toThrow('-c domainPath needs -c domainName');
    expect(() => synthesizeWith({ ...domain, domainName: 'not a domain' })).toThrow('is not a DNS name');
    expect(() => synthesizeWith({ ...domain, certificateArn: 'arn:aws:iam::1:role/x' })).toThrow(
      'is not an ACM certificate ARN',
    );
    expect(() => synthesizeWith({ ...domain, domainPath: 'a b' })).toThrow('domain path "a b"');
  });
});

it('the other flags: config path, stack prefix, alarm address', () => {
  expect(
    optionsFromContext(
      (name) => ({ config: 'deploy/prod.json', stackPrefix: 'Staging', alarmEmail: 'ops@example.com' })[name],
    ),
  ).toMatchObject({
    configPath: 'deploy/prod.json',
    prefix: 'Staging',
    stateless: { alarmEmail: 'ops@example.com' },
  });
  expect(synthesize(exampleConfig, { prefix: 'Staging' }).stacks.stateless.stackName).toBe('StagingApi');
});

describe('feature flags (cdk.json)', () => {
  /** The flags set on purpose to something else than the recommendation (README "Feature flags"). */
  const EXCEPTIONS: Record<string, unknown> = {
    '@aws-cdk/core:target-partitions': ['aws', 'aws-cn', 'aws-us-gov'],
    '@aws-cdk/core:enableAdditionalMetadataCollection': false,
    '@aws-cdk/core:defaultCrossStackReferences': 'strong',
  };

  it('every flag this aws-cdk-lib knows is set, at the recommended value or a listed exception', () => {
    const context = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown>;
    const differing = Object.entries(FLAGS)
      .filter(([, flag]) => flag.recommendedValue !== undefined)
      .filter(([name, flag]) => !isDeepStrictEqual(context[name], flag.recommendedValue))
      .map(([name]) => [name, context[name]]);
    expect(Object.fromEntries(differing)).toEqual(EXCEPTIONS);
  });

  it('each exception is named in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const name of Object.keys(EXCEPTIONS)) expect(readme).toContain(`\`${name}\``);
  });
});
