/**
 * The decision table: key policies and identity policies × requests → Allow / ExplicitDeny /
 * ImplicitDeny (and which kind of policy AWS's message would blame). It covers precedence,
 * principals (account root, bare account id, users, `*`, NotPrincipal), actions and resources
 * with wildcards, cross-account access, key-independent actions, and the examples of the AWS
 * KMS Developer Guide ("AWS KMS condition keys", "Default key policy", "Troubleshooting key
 * access"). Conditions in detail are in evaluate-conditions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  accessDeniedMessage,
  compilePolicy,
  defaultKeyPolicy,
  evaluateIdentityOnly,
  evaluateKeyAccess,
  type AccessDecision,
  type Decision,
  type RequestFacts,
} from '../../../src/core/policy/index.js';

const ACCOUNT = '111122223333';
const OTHER = '444455556666';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
const CAROL = `arn:aws:iam::${OTHER}:user/carol`;
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321`;

type Statement = Record<string, unknown>;
type Expected = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny' | `${'ExplicitDeny' | 'ImplicitDeny'}:${'resource' | 'identity'}`;

interface Request {
  principal?: string;
  action?: string;
  resource?: string;
  context?: Record<string, string | string[]>;
  /** Names of the scenario's identity policies the caller has (default: all of them). */
  identity?: string[];
}

interface Scenario {
  name: string;
  /** Key policy statements, or the default key policy. */
  keyPolicy: Statement[] | 'default';
  identity?: Record<string, Statement[]>;
  cases: [string, Request, Expected][];
}

const allow = (principal: unknown, action: unknown, extra: Statement = {}): Statement => ({
  Effect: 'Allow',
  Principal: principal === '*' ? '*' : { AWS: principal },
  Action: action,
  Resource: '*',
  ...extra,
});
const deny = (principal: unknown, action: unknown, extra: Statement = {}): Statement => ({ ...allow(principal, action, extra), Effect: 'Deny' });
const iamAllow = (action: unknown, resource: unknown = '*', extra: Statement = {}): Statement => ({ Effect: 'Allow', Action: action, Resource: resource, ...extra });
const iamDeny = (action: unknown, resource: unknown = '*', extra: Statement = {}): Statement => ({ ...iamAllow(action, resource, extra), Effect: 'Deny' });

const scenarios: Scenario[] = [
  {
    name: 'the default key policy delegates to identity policies (KMS guide, Example 1)',
    keyPolicy: 'default',
    identity: {
      decrypt: [iamAllow('kms:Decrypt', KEY)],
      anyKey: [iamAllow(['kms:Encrypt', 'kms:Decrypt'], `arn:aws:kms:*:${ACCOUNT}:key/*`)],
      otherKey: [iamAllow('kms:*', OTHER_KEY)],
      denyDecrypt: [iamDeny('kms:Decrypt')],
    },
    cases: [
      ['a user without identity policies', { identity: [] }, 'ImplicitDeny:identity'],
      ['an identity policy allowing the action on the key', { identity: ['decrypt'] }, 'Allow'],
      ['an identity policy allowing any key of the account', { identity: ['anyKey'] }, 'Allow'],
      ['an identity policy for another key', { identity: ['otherKey'] }, 'ImplicitDeny:identity'],
      ['an identity policy allowing another action', { identity: ['decrypt'], action: 'kms:Encrypt' }, 'ImplicitDeny:identity'],
      ['an identity Deny beats an identity Allow', { identity: ['decrypt', 'denyDecrypt'] }, 'ExplicitDeny:identity'],
      ['the account root needs no identity policy', { principal: ROOT, identity: [] }, 'Allow'],
      ['a user of another account, even with identity policies', { principal: CAROL, identity: ['decrypt'] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'a key policy naming a user directly',
    keyPolicy: [allow(ROOT, 'kms:*'), allow(BOB, ['kms:Encrypt', 'kms:DescribeKey'])],
    cases: [
      ['the named user, an allowed action', { principal: BOB, action: 'kms:Encrypt', identity: [] }, 'Allow'],
      ['the named user, another allowed action', { principal: BOB, action: 'kms:DescribeKey', identity: [] }, 'Allow'],
      ['the named user, an action not listed', { principal: BOB, action: 'kms:Decrypt', identity: [] }, 'ImplicitDeny:identity'],
      ['another user', { principal: ALICE, action: 'kms:Encrypt', identity: [] }, 'ImplicitDeny:identity'],
      ['actions compare case-insensitively', { principal: BOB, action: 'KMS:encrypt', identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'a key policy that does not name the account (no delegation)',
    keyPolicy: [allow(ALICE, 'kms:*')],
    identity: { all: [iamAllow('kms:*')] },
    cases: [
      ['the named user', {}, 'Allow'],
      ['another user with an identity policy allowing everything', { principal: BOB }, 'ImplicitDeny:resource'],
      ['the account root', { principal: ROOT, identity: [] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'the bare account id delegates like the root ARN',
    keyPolicy: [allow(ACCOUNT, 'kms:Decrypt')],
    identity: { all: [iamAllow('kms:*')] },
    cases: [
      ['a user with an identity policy', {}, 'Allow'],
      ['a user without', { identity: [] }, 'ImplicitDeny:identity'],
      ['the account root', { principal: ROOT, identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'explicit Deny beats Allow',
    keyPolicy: [allow('*', 'kms:*', { Condition: { StringEquals: { 'aws:PrincipalAccount': ACCOUNT } } }), deny(ALICE, ['kms:Decrypt', 'kms:ReEncrypt*'])],
    identity: { all: [iamAllow('kms:*')] },
    cases: [
      ['the denied user, the denied action', {}, 'ExplicitDeny:resource'],
      ['the denied user, a ReEncrypt* action', { action: 'kms:ReEncryptFrom' }, 'ExplicitDeny:resource'],
      ['the denied user, another action', { action: 'kms:Encrypt' }, 'Allow'],
      ['another user, the denied action', { principal: BOB }, 'Allow'],
      ['Principal * is direct: no identity policy needed', { principal: BOB, identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'Principal "*" with kms:CallerAccount (KMS guide, kms:CallerAccount)',
    keyPolicy: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': ACCOUNT } } }],
    cases: [
      ['a caller of the account', { identity: [] }, 'Allow'],
      ['a caller of another account', { principal: CAROL }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'NotAction and NotResource',
    keyPolicy: [allow(ALICE, 'kms:*', {}), { Effect: 'Deny', Principal: { AWS: ALICE }, NotAction: ['kms:Describe*', 'kms:List*'], NotResource: OTHER_KEY }],
    cases: [
      ['an action NotAction excludes', { action: 'kms:DescribeKey' }, 'Allow'],
      ['an action NotAction does not exclude', { action: 'kms:Decrypt' }, 'ExplicitDeny:resource'],
    ],
  },
  {
    name: 'NotPrincipal with Deny (everyone but the listed principals)',
    keyPolicy: [
      allow('*', 'kms:*'),
      { Effect: 'Deny', NotPrincipal: { AWS: [ALICE, `arn:aws:iam::${OTHER}:root`] }, Action: 'kms:Decrypt', Resource: '*' },
    ],
    identity: { all: [iamAllow('kms:*')] },
    cases: [
      ['a listed user', {}, 'Allow'],
      ['an unlisted user', { principal: BOB }, 'ExplicitDeny:resource'],
      ['a user of a listed account', { principal: CAROL }, 'Allow'],
      ['an unlisted user, an action the Deny does not cover', { principal: BOB, action: 'kms:Encrypt' }, 'Allow'],
    ],
  },
  {
    name: 'NotPrincipal with Allow',
    keyPolicy: [{ Effect: 'Allow', NotPrincipal: { AWS: BOB }, Action: 'kms:Encrypt', Resource: '*' }],
    cases: [
      ['anyone else', { action: 'kms:Encrypt', identity: [] }, 'Allow'],
      ['the listed user', { principal: BOB, action: 'kms:Encrypt', identity: [] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'Resource in a key policy: * is this key; an ARN must name it',
    keyPolicy: [
      { ...allow(ALICE, 'kms:Encrypt'), Resource: KEY },
      { ...allow(ALICE, 'kms:Decrypt'), Resource: OTHER_KEY },
      { ...allow(ALICE, 'kms:DescribeKey'), Resource: `arn:aws:kms:*:${ACCOUNT}:key/*` },
      { ...allow(ALICE, 'kms:GenerateDataKey'), NotResource: OTHER_KEY, Resource: undefined },
    ],
    cases: [
      ['an ARN naming this key', { action: 'kms:Encrypt', identity: [] }, 'Allow'],
      ['an ARN naming another key', { action: 'kms:Decrypt', identity: [] }, 'ImplicitDeny:resource'],
      ['an ARN pattern', { action: 'kms:DescribeKey', identity: [] }, 'Allow'],
      ['NotResource naming another key', { action: 'kms:GenerateDataKey', identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'action wildcards',
    keyPolicy: [allow(ALICE, ['kms:Generate*', 'kms:ReEncrypt*', 'kms:Describe?ey'])],
    cases: [
      ['kms:Generate* covers GenerateDataKeyWithoutPlaintext', { action: 'kms:GenerateDataKeyWithoutPlaintext', identity: [] }, 'Allow'],
      ['kms:Generate* covers GenerateMac', { action: 'kms:GenerateMac', identity: [] }, 'Allow'],
      ['kms:ReEncrypt* covers ReEncryptFrom', { action: 'kms:ReEncryptFrom', identity: [] }, 'Allow'],
      ['kms:ReEncrypt* covers ReEncryptTo', { action: 'kms:ReEncryptTo', identity: [] }, 'Allow'],
      ['? is one character', { action: 'kms:DescribeKey', identity: [] }, 'Allow'],
      ['Encrypt is not covered', { action: 'kms:Encrypt', identity: [] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'cross-account use needs the key policy and an identity policy (KMS guide, external accounts)',
    keyPolicy: [allow(ROOT, 'kms:*'), allow(`arn:aws:iam::${OTHER}:root`, ['kms:Encrypt', 'kms:Decrypt']), allow(CAROL, 'kms:DescribeKey')],
    identity: { carol: [iamAllow(['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], KEY)] },
    cases: [
      ['the external account is allowed and so is its user', { principal: CAROL, action: 'kms:Encrypt' }, 'Allow'],
      ['the external account is allowed, its user is not', { principal: CAROL, action: 'kms:Encrypt', identity: [] }, 'ImplicitDeny:identity'],
      ['the external user is named directly, with an identity policy', { principal: CAROL, action: 'kms:DescribeKey' }, 'Allow'],
      ['the external user is named directly, without one', { principal: CAROL, action: 'kms:DescribeKey', identity: [] }, 'ImplicitDeny:identity'],
      ['an action the key policy does not give the external account', { principal: CAROL, action: 'kms:ScheduleKeyDeletion' }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'kms:EncryptionContext:context-key (KMS guide)',
    keyPolicy: [
      allow(ALICE, 'kms:Decrypt', { Condition: { StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' } } }),
      allow(ALICE, 'kms:Encrypt', { Condition: { StringEqualsIgnoreCase: { 'kms:EncryptionContext:appname': 'exampleapp' } } }),
    ],
    cases: [
      ['the required pair', { context: { 'kms:EncryptionContext:AppName': 'ExampleApp' }, identity: [] }, 'Allow'],
      ['the key name in another case (key names are not case-sensitive)', { context: { 'kms:EncryptionContext:appname': 'ExampleApp' }, identity: [] }, 'Allow'],
      ['the value in another case', { context: { 'kms:EncryptionContext:AppName': 'exampleapp' }, identity: [] }, 'ImplicitDeny:resource'],
      ['no encryption context', { identity: [] }, 'ImplicitDeny:resource'],
      ['StringEqualsIgnoreCase ignores the value’s case', { action: 'kms:Encrypt', context: { 'kms:EncryptionContext:AppName': 'EXAMPLEAPP' }, identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'kms:EncryptionContextKeys with ForAllValues and Null (KMS guide)',
    keyPolicy: [
      allow(ALICE, 'kms:Encrypt', {
        Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName', 'FilePath'] }, Null: { 'kms:EncryptionContextKeys': 'false' } },
      }),
      allow(ALICE, 'kms:Decrypt', { Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } } }),
    ],
    cases: [
      ['only allowed keys', { action: 'kms:Encrypt', context: { 'kms:EncryptionContextKeys': ['AppName'] }, identity: [] }, 'Allow'],
      ['an extra key', { action: 'kms:Encrypt', context: { 'kms:EncryptionContextKeys': ['AppName', 'Other'] }, identity: [] }, 'ImplicitDeny:resource'],
      ['no encryption context (the Null condition)', { action: 'kms:Encrypt', identity: [] }, 'ImplicitDeny:resource'],
      ['ForAnyValue: one of the keys', { context: { 'kms:EncryptionContextKeys': ['Other', 'AppName'] }, identity: [] }, 'Allow'],
      ['ForAnyValue: key names are case-sensitive values', { context: { 'kms:EncryptionContextKeys': ['appname'] }, identity: [] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'kms:ViaService (KMS guide)',
    keyPolicy: [
      allow(ALICE, ['kms:Encrypt', 'kms:Decrypt'], { Condition: { StringEquals: { 'kms:ViaService': ['ec2.us-west-2.amazonaws.com', 'rds.us-west-2.amazonaws.com'] } } }),
      deny(ALICE, 'kms:Encrypt', { Condition: { StringNotEqualsIfExists: { 'kms:ViaService': 'ec2.us-west-2.amazonaws.com' } } }),
    ],
    cases: [
      ['through an allowed service', { context: { 'kms:ViaService': 'rds.us-west-2.amazonaws.com' }, identity: [] }, 'Allow'],
      ['directly', { identity: [] }, 'ImplicitDeny:resource'],
      ['Encrypt through another allowed service hits the Deny', { action: 'kms:Encrypt', context: { 'kms:ViaService': 'rds.us-west-2.amazonaws.com' }, identity: [] }, 'ExplicitDeny:resource'],
      ['Encrypt directly: StringNotEqualsIfExists on an absent key holds', { action: 'kms:Encrypt', identity: [] }, 'ExplicitDeny:resource'],
      ['Encrypt through EC2', { action: 'kms:Encrypt', context: { 'kms:ViaService': 'ec2.us-west-2.amazonaws.com' }, identity: [] }, 'Allow'],
    ],
  },
  {
    name: 'alias conditions: kms:RequestAlias (key policy) and kms:ResourceAliases (identity policy) (KMS guide)',
    keyPolicy: [allow(ROOT, 'kms:*'), allow(ALICE, 'kms:GenerateDataKey', { Condition: { StringEquals: { 'kms:RequestAlias': 'alias/finance-key' } } })],
    identity: {
      anyAlias: [iamAllow('kms:Decrypt', `arn:aws:kms:*:${ACCOUNT}:key/*`, { Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/finance-key' } } })],
      allTest: [
        iamAllow(['kms:EnableKey', 'kms:DisableKey'], `arn:aws:kms:*:${ACCOUNT}:key/*`, {
          Condition: { 'ForAllValues:StringLike': { 'kms:ResourceAliases': 'alias/*Test*' }, 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/*Test*' } },
        }),
      ],
    },
    cases: [
      ['the request names the alias', { action: 'kms:GenerateDataKey', context: { 'kms:RequestAlias': 'alias/finance-key' }, identity: [] }, 'Allow'],
      ['the request names the key by id', { action: 'kms:GenerateDataKey', identity: [] }, 'ImplicitDeny:identity'],
      ['the key has the alias among others', { context: { 'kms:ResourceAliases': ['alias/x', 'alias/finance-key'] }, identity: ['anyAlias'] }, 'Allow'],
      ['the key has no alias', { identity: ['anyAlias'] }, 'ImplicitDeny:identity'],
      ['every alias contains Test', { action: 'kms:DisableKey', context: { 'kms:ResourceAliases': ['alias/Test1', 'alias/myTest'] }, identity: ['allTest'] }, 'Allow'],
      ['one alias lacks Test', { action: 'kms:DisableKey', context: { 'kms:ResourceAliases': ['alias/Test1', 'alias/prod'] }, identity: ['allTest'] }, 'ImplicitDeny:identity'],
      ['no alias at all (the ForAnyValue guard)', { action: 'kms:DisableKey', identity: ['allTest'] }, 'ImplicitDeny:identity'],
    ],
  },
  {
    name: 'grant conditions (KMS guide: kms:GrantOperations, kms:GrantIsForAWSResource, kms:GranteePrincipal)',
    keyPolicy: [
      allow(ALICE, 'kms:CreateGrant', {
        Condition: {
          'ForAllValues:StringEquals': { 'kms:GrantOperations': ['Decrypt', 'Encrypt'] },
          StringEquals: { 'kms:GranteePrincipal': BOB },
        },
      }),
      allow(BOB, ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'], { Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
    ],
    cases: [
      ['allowed operations for the allowed grantee', { action: 'kms:CreateGrant', context: { 'kms:GrantOperations': ['Decrypt'], 'kms:GranteePrincipal': BOB }, identity: [] }, 'Allow'],
      ['an operation not allowed', { action: 'kms:CreateGrant', context: { 'kms:GrantOperations': ['Decrypt', 'ReEncryptFrom'], 'kms:GranteePrincipal': BOB }, identity: [] }, 'ImplicitDeny:resource'],
      ['another grantee', { action: 'kms:CreateGrant', context: { 'kms:GrantOperations': ['Decrypt'], 'kms:GranteePrincipal': ALICE }, identity: [] }, 'ImplicitDeny:resource'],
      ['a grant for an AWS resource', { principal: BOB, action: 'kms:CreateGrant', context: { 'kms:GrantIsForAWSResource': 'true' }, identity: [] }, 'Allow'],
      ['a grant not for an AWS resource', { principal: BOB, action: 'kms:ListGrants', context: { 'kms:GrantIsForAWSResource': 'false' }, identity: [] }, 'ImplicitDeny:resource'],
    ],
  },
  {
    name: 'key properties and request parameters (kms:KeySpec, kms:EncryptionAlgorithm, kms:RotationPeriodInDays, kms:BypassPolicyLockoutSafetyCheck)',
    keyPolicy: [
      allow(ALICE, ['kms:Encrypt', 'kms:Decrypt'], { Condition: { StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' } } }),
      allow(ALICE, 'kms:EnableKeyRotation', { Condition: { NumericLessThanEquals: { 'kms:RotationPeriodInDays': '180' } } }),
      allow(ALICE, 'kms:PutKeyPolicy'),
      deny(ALICE, 'kms:PutKeyPolicy', { Condition: { Bool: { 'kms:BypassPolicyLockoutSafetyCheck': 'true' } } }),
    ],
    cases: [
      ['both properties hold', { context: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT', 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' }, identity: [] }, 'Allow'],
      ['one does not', { context: { 'kms:KeySpec': 'RSA_2048', 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' }, identity: [] }, 'ImplicitDeny:resource'],
      ['a rotation period within bounds', { action: 'kms:EnableKeyRotation', context: { 'kms:RotationPeriodInDays': '90' }, identity: [] }, 'Allow'],
      ['a rotation period too long', { action: 'kms:EnableKeyRotation', context: { 'kms:RotationPeriodInDays': '365' }, identity: [] }, 'ImplicitDeny:resource'],
      ['PutKeyPolicy without bypass', { action: 'kms:PutKeyPolicy', context: { 'kms:BypassPolicyLockoutSafetyCheck': 'false' }, identity: [] }, 'Allow'],
      ['PutKeyPolicy with bypass', { action: 'kms:PutKeyPolicy', context: { 'kms:BypassPolicyLockoutSafetyCheck': 'true' }, identity: [] }, 'ExplicitDeny:resource'],
    ],
  },
  {
    name: 'policy variables in Resource (identity policy)',
    keyPolicy: 'default',
    identity: {
      ownKey: [iamAllow('kms:Decrypt', `arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:PrincipalTag/key-id}`)],
      fallback: [iamAllow('kms:Decrypt', `arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:PrincipalTag/key-id, '1234abcd-12ab-34cd-56ef-1234567890ab'}`)],
    },
    cases: [
      ['the tag names the key', { context: { 'aws:PrincipalTag/key-id': '1234abcd-12ab-34cd-56ef-1234567890ab' }, identity: ['ownKey'] }, 'Allow'],
      ['the tag names another key', { context: { 'aws:PrincipalTag/key-id': 'x' }, identity: ['ownKey'] }, 'ImplicitDeny:identity'],
      ['no tag: the resource matches nothing', { identity: ['ownKey'] }, 'ImplicitDeny:identity'],
      ['no tag, with a default naming the key', { identity: ['fallback'] }, 'Allow'],
    ],
  },
];

function decide(scenario: Scenario, request: Request): AccessDecision {
  const keyPolicyText =
    scenario.keyPolicy === 'default'
      ? defaultKeyPolicy({ partition: 'aws', accountId: ACCOUNT })
      : JSON.stringify({ Version: '2012-10-17', Statement: scenario.keyPolicy });
  const principal = request.principal ?? ALICE;
  const identity = Object.entries(scenario.identity ?? {}).filter(([name]) => !request.identity || request.identity.includes(name));
  const facts: RequestFacts = {
    principalArn: principal,
    principalAccountId: principal.split(':')[4]!,
    partition: 'aws',
    action: request.action ?? 'kms:Decrypt',
    resourceArn: request.resource ?? KEY,
    // What every request carries, as the authorizer fills it in.
    context: { 'kms:CallerAccount': principal.split(':')[4]!, 'aws:PrincipalAccount': principal.split(':')[4]!, ...request.context },
  };
  return evaluateKeyAccess(
    {
      keyPolicy: { name: 'key-policy', policy: compilePolicy(keyPolicyText) },
      identityPolicies: identity.map(([name, statements]) => ({
        name,
        policy: compilePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }), { kind: 'identity' }),
      })),
    },
    facts,
  );
}

function outcome(decision: AccessDecision): Expected {
  return decision.decision === 'Allow' ? 'Allow' : `${decision.decision}:${decision.deniedBy!}`;
}

describe('key access decisions', () => {
  for (const scenario of scenarios)
    describe(scenario.name, () => {
      it.each(scenario.cases)('%s → %s', (_name, request, expected) => {
        const decision = decide(scenario, request);
        expect(expected.includes(':') ? outcome(decision) : decision.decision).toBe(expected);
        if (decision.decision === 'Allow') expect(decision.decisive.length).toBeGreaterThan(0);
        if (decision.decision === 'ExplicitDeny') expect(decision.decisive.every((s) => s.effect === 'Deny' && s.applies)).toBe(true);
      });
    });

  it('the decisive statements name the policy and Sid', () => {
    const decision = decide(
      { name: 'x', keyPolicy: [{ Sid: 'NoDecrypt', ...deny(ALICE, 'kms:Decrypt') }, allow(ALICE, 'kms:*')], cases: [] },
      {},
    );
    expect(decision.decisive).toMatchObject([{ policy: 'key-policy', sid: 'NoDecrypt', index: 0, effect: 'Deny', applies: true }]);
  });

  it.each<[string, Decision, string]>([
    ['ExplicitDeny:resource', 'ExplicitDeny', 'with an explicit deny in a resource-based policy'],
    ['ImplicitDeny:resource', 'ImplicitDeny', 'because no resource-based policy allows the kms:Decrypt action'],
    ['ImplicitDeny:identity', 'ImplicitDeny', 'because no identity-based policy allows the kms:Decrypt action'],
  ])('AccessDenied message for %s', (_label, decision, tail) => {
    const deniedBy = _label.split(':')[1] as 'resource' | 'identity';
    const message = accessDeniedMessage({ principalArn: ALICE, action: 'kms:Decrypt', resourceArn: KEY }, { decision, decisive: [], deniedBy, results: [] });
    expect(message).toBe(`User: ${ALICE} is not authorized to perform: kms:Decrypt on resource: ${KEY} ${tail}`);
  });
});

describe('key-independent actions (identity policies only)', () => {
  const policies = {
    create: [iamAllow('kms:CreateKey', '*', { Condition: { StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' } } })],
    createOnKey: [iamAllow('kms:CreateKey', `arn:aws:kms:*:${ACCOUNT}:key/*`)],
    list: [iamAllow(['kms:List*', 'kms:GenerateRandom'])],
    denyRandom: [iamDeny('kms:GenerateRandom')],
  };
  it.each<[string, string, string[], Record<string, string>, Expected]>([
    ['CreateKey allowed with the condition', 'kms:CreateKey', ['create'], { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' }, 'Allow'],
    ['CreateKey with another key spec', 'kms:CreateKey', ['create'], { 'kms:KeySpec': 'RSA_2048' }, 'ImplicitDeny:identity'],
    ['CreateKey needs Resource "*", not a key ARN', 'kms:CreateKey', ['createOnKey'], {}, 'ImplicitDeny:identity'],
    ['ListKeys through kms:List*', 'kms:ListKeys', ['list'], {}, 'Allow'],
    ['GenerateRandom denied', 'kms:GenerateRandom', ['list', 'denyRandom'], {}, 'ExplicitDeny:identity'],
    ['no identity policy', 'kms:ListAliases', [], {}, 'ImplicitDeny:identity'],
  ])('%s', (_name, action, names, context, expected) => {
    const facts: RequestFacts = { principalArn: ALICE, principalAccountId: ACCOUNT, partition: 'aws', action, resourceArn: '*', context };
    const decision = evaluateIdentityOnly(
      names.map((name) => ({
        name,
        policy: compilePolicy(JSON.stringify({ Version: '2012-10-17', Statement: policies[name as keyof typeof policies] }), { kind: 'identity' }),
      })),
      facts,
    );
    expect(outcome(decision)).toBe(expected);
  });
});
