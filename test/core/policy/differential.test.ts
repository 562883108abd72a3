/**
 * Differential test: hsmkms's policy evaluator against an independent one,
 * `@cloud-copilot/iam-simulate` (AGPL-3.0: a devDependency used only here, as an oracle; never
 * imported by src/). Thousands of key-policy / identity-policy / request triples are generated
 * from a fixed seed and decided by both. Every disagreement must be explained by one of the
 * KNOWN_DIVERGENCES below, each of which cites the AWS documentation that decides it (AWS's
 * documentation is the judge, not either implementation); anything else fails the test with
 * the case printed.
 *
 * To explore: POLICY_DIFF_SEED=n runs another seed; DIFF_DUMP=file.json writes every
 * disagreement (explained or not) for study.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { compilePolicy, evaluateIdentityOnly, evaluateKeyAccess, type Decision, type RequestFacts } from '../../../src/core/policy/index.js';
import { KmsError } from '../../../src/core/errors.js';
import { seededRandom, type SeededRandom } from './seeded-random.js';

const SEED = Number(process.env.POLICY_DIFF_SEED ?? 20240611);
const CASES = 2000;

const ACCOUNT = '111122223333';
const OTHER = '444455556666';
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KEY_ID}`;
const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321`;
const USERS = [`arn:aws:iam::${ACCOUNT}:user/alice`, `arn:aws:iam::${ACCOUNT}:user/bob`, `arn:aws:iam::${OTHER}:user/carol`];

type Random = SeededRandom;

/** Key-independent actions: authorized by identity policies alone, with resource `*`. */
const KEY_INDEPENDENT = ['kms:CreateKey', 'kms:ListKeys', 'kms:ListAliases', 'kms:GenerateRandom'];
const ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom', 'kms:DescribeKey', 'kms:CreateGrant'];
const ACTION_PATTERNS = ['kms:*', '*', 'kms:List*', 'kms:Create*', 'kms:GenerateRandom', 'kms:Decrypt', 'kms:Encrypt', 'kms:Enc*', 'kms:*crypt', 'kms:ReEncrypt*', 'kms:Generate*', 'kms:Describe?ey', 'KMS:decrypt', 'kms:CreateGrant', 'kms:?ecrypt'];
const PRINCIPALS = [`arn:aws:iam::${ACCOUNT}:root`, ACCOUNT, ...USERS, `arn:aws:iam::${OTHER}:root`, OTHER, '*'];
const RESOURCES = ['*', KEY, OTHER_KEY, `arn:aws:kms:*:${ACCOUNT}:key/*`, `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234*`, `arn:aws:kms:us-east-1:*:key/${KEY_ID}`, `arn:aws:kms:us-east-1:${ACCOUNT}:key/\${aws:PrincipalTag/keyid}`];

/** Condition generators: operator families with keys that are valid for the actions above, and values likely to collide. */
interface ConditionKind {
  operators: string[];
  keys: string[];
  policyValues: string[];
  requestValues: string[];
  multi?: boolean;
}

const STRING_VALUES = ['a', 'b', 'A', 'ab', '', 'a*', '*b', '?', 'a?', '${aws:username}', '${aws:PrincipalTag/team}', "${aws:PrincipalTag/dept, 'a'}", '${*}', 'alice'];
const STRING_REQUEST = ['a', 'b', 'A', 'ab', 'ba', 'alice', 'a*', '*', 'x'];

const KINDS: ConditionKind[] = [
  {
    operators: ['StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike'],
    keys: ['kms:EncryptionContext:tenant', 'kms:ViaService', 'aws:PrincipalTag/team', 'kms:CallerAccount', 'aws:ResourceTag/env', 'kms:EncryptionAlgorithm'],
    policyValues: STRING_VALUES,
    requestValues: STRING_REQUEST,
  },
  {
    operators: ['StringEquals', 'StringNotEquals', 'StringLike', 'StringNotLike', 'StringEqualsIgnoreCase'],
    keys: ['kms:EncryptionContextKeys'],
    policyValues: STRING_VALUES,
    requestValues: STRING_REQUEST,
    multi: true,
  },
  {
    operators: ['NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals', 'NumericGreaterThan', 'NumericGreaterThanEquals'],
    keys: ['aws:MultiFactorAuthAge'],
    policyValues: ['0', '1', '10', '10.5', '-3', '100'],
    requestValues: ['0', '1', '10', '10.0', '10.5', '11', '-3', '99'],
  },
  {
    operators: ['DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals'],
    keys: ['aws:CurrentTime'],
    policyValues: ['2020-01-01T00:00:00Z', '2024-06-01T12:00:00Z', '2030-01-01T00:00:00Z', '2024-06-01T13:00:00+01:00'],
    requestValues: ['2019-12-31T23:59:59Z', '2020-01-01T00:00:00Z', '2024-06-01T12:00:00Z', '2031-01-01T00:00:00Z'],
  },
  {
    operators: ['DateEquals', 'DateLessThan', 'DateGreaterThanEquals'],
    keys: ['aws:EpochTime'],
    policyValues: ['1577836800', '1717243200', '1893456000'],
    requestValues: ['1577836799', '1577836800', '1717243200', '1900000000'],
  },
  {
    operators: ['Bool'],
    keys: ['aws:SecureTransport', 'aws:MultiFactorAuthPresent'],
    policyValues: ['true', 'false', 'True'],
    requestValues: ['true', 'false', 'TRUE'],
  },
  {
    operators: ['IpAddress', 'NotIpAddress'],
    keys: ['aws:SourceIp'],
    policyValues: ['203.0.113.0/24', '203.0.113.7', '10.0.0.0/8', '2001:db8::/32', '0.0.0.0/0'],
    requestValues: ['203.0.113.7', '203.0.114.1', '10.1.2.3', '2001:db8::1', '2001:db9::1'],
  },
  {
    operators: ['ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike'],
    keys: ['aws:PrincipalArn', 'aws:SourceArn'],
    policyValues: [`arn:aws:iam::${ACCOUNT}:user/*`, 'arn:aws:iam::*:user/alice', `arn:aws:iam::${ACCOUNT}:user/\${aws:username}`, 'arn:aws:iam::*:*', 'arn:aws:s3:::bucket/*', 'arn:*:*:*:*:*'],
    requestValues: [...USERS, 'arn:aws:s3:::bucket/x', `arn:aws:iam::${ACCOUNT}:role/r`],
  },
];

function condition(r: Random, requestContext: Record<string, string | string[]>): Record<string, Record<string, string | string[]>> {
  const kind = r.pick(KINDS);
  let operator = r.pick(kind.operators);
  if (kind.multi) operator = `${r.pick(['ForAnyValue', 'ForAllValues'])}:${operator}`;
  else if (r.chance(0.05) && operator.startsWith('String')) operator = `ForAnyValue:${operator}`;
  if (r.chance(0.15)) operator += 'IfExists';
  const key = r.pick(kind.keys);
  // Condition key names are case-insensitive; the request spells them canonically.
  const policyKey = r.chance(0.1) ? key.toLowerCase() : r.chance(0.05) ? key.toUpperCase() : key;
  if (r.chance(0.08)) return { Null: { [policyKey]: r.pick(['true', 'false']) } };
  const values = r.some(kind.policyValues, 2);
  // Give the request a value for this key most of the time, so conditions are decided on values.
  if (r.chance(0.7)) requestContext[key] = kind.multi ? r.some(kind.requestValues, 3) : r.pick(kind.requestValues);
  if (r.chance(0.05)) operator = operator.toLowerCase();
  return { [operator]: { [policyKey]: values.length === 1 ? values[0]! : values } };
}

let sidCounter = 0;

function statement(r: Random, kind: 'resource' | 'identity', context: Record<string, string | string[]>): Record<string, unknown> {
  const s: Record<string, unknown> = { Effect: r.chance(0.75) ? 'Allow' : 'Deny' };
  if (r.chance(0.3)) s.Sid = `S${sidCounter++}`;
  if (kind === 'resource') {
    const principals = r.some(PRINCIPALS, 2);
    const value = principals.includes('*') && r.chance(0.5) ? '*' : { AWS: principals.length === 1 ? principals[0] : principals };
    s[r.chance(0.1) ? 'NotPrincipal' : 'Principal'] = value;
  }
  s[r.chance(0.15) ? 'NotAction' : 'Action'] = r.some(ACTION_PATTERNS, 2);
  s[r.chance(0.1) ? 'NotResource' : 'Resource'] = kind === 'resource' ? (r.chance(0.8) ? '*' : r.some(RESOURCES, 2)) : r.some(RESOURCES, 2);
  if (r.chance(0.6)) {
    const conditions: Record<string, Record<string, string | string[]>> = {};
    for (let i = 0; i < 1 + r.int(2); i++)
      for (const [op, block] of Object.entries(condition(r, context))) conditions[op] = { ...conditions[op], ...block };
    s.Condition = conditions;
  }
  return s;
}

interface Case {
  keyPolicy: { Version: string; Statement: Record<string, unknown>[] };
  identityPolicies: { Version: string; Statement: Record<string, unknown>[] }[];
  principal: string;
  action: string;
  context: Record<string, string | string[]>;
}

function generate(r: Random): Case {
  const context: Record<string, string | string[]> = {};
  const keyIndependent = r.chance(0.15);
  // The root's implicit permissions for key-independent actions are the authorizer's, not the evaluator's.
  const principal = r.chance(0.08) && !keyIndependent ? `arn:aws:iam::${ACCOUNT}:root` : r.pick(USERS);
  const keyPolicy = { Version: r.chance(0.05) ? '2008-10-17' : '2012-10-17', Statement: Array.from({ length: 1 + r.int(4) }, () => statement(r, 'resource', context)) };
  const identityPolicies = Array.from({ length: r.int(3) }, () => ({
    Version: r.chance(0.05) ? '2008-10-17' : '2012-10-17',
    Statement: Array.from({ length: 1 + r.int(3) }, () => statement(r, 'identity', context)),
  }));
  // Values policy variables read, sometimes.
  if (r.chance(0.5) && principal.includes(':user/')) context['aws:username'] = principal.split('/')[1]!;
  if (r.chance(0.4)) context['aws:PrincipalTag/team'] = r.pick(['a', 'b', 'x*']);
  if (r.chance(0.3)) context['aws:PrincipalTag/keyid'] = r.pick([KEY_ID, 'other']);
  if (r.chance(0.5)) context['kms:CallerAccount'] = principal.split(':')[4]!;
  const action = keyIndependent ? r.pick(KEY_INDEPENDENT) : r.pick(ACTIONS);
  return { keyPolicy, identityPolicies, principal, action, context };
}

type Outcome = Decision | 'rejected';

function ours(c: Case, context: Record<string, string | string[]>): Outcome {
  const keyIndependent = KEY_INDEPENDENT.includes(c.action);
  const facts: RequestFacts = {
    principalArn: c.principal,
    principalAccountId: c.principal.split(':')[4]!,
    partition: 'aws',
    action: c.action,
    resourceArn: keyIndependent ? '*' : KEY,
    context,
  };
  const identityPolicies = () =>
    c.identityPolicies.map((p, i) => ({ name: `p${i}`, policy: compilePolicy(JSON.stringify(p), { kind: 'identity' }) }));
  try {
    if (keyIndependent) return evaluateIdentityOnly(identityPolicies(), facts).decision;
    return evaluateKeyAccess(
      {
        keyPolicy: { name: 'key-policy', policy: compilePolicy(JSON.stringify(c.keyPolicy)) },
        identityPolicies: identityPolicies(),
      },
      facts,
    ).decision;
  } catch (error) {
    if (error instanceof KmsError) return 'rejected';
    throw error;
  }
}

async function theirs(c: Case): Promise<{ outcome: Outcome; ignored: string[] }> {
  const keyIndependent = KEY_INDEPENDENT.includes(c.action);
  const simulation: Simulation = {
    identityPolicies: c.identityPolicies.map((policy, i) => ({ name: `p${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: keyIndependent ? undefined : c.keyPolicy,
    request: {
      action: c.action,
      principal: c.principal,
      // A key-independent action acts in the caller's own account.
      resource: keyIndependent ? { resource: '*', accountId: c.principal.split(':')[4]! } : { resource: KEY, accountId: ACCOUNT },
      contextVariables: c.context,
    },
  };
  const result = await runSimulation(simulation, {});
  if (result.resultType === 'error') return { outcome: 'rejected', ignored: [] };
  const outcome = { Allowed: 'Allow', ExplicitlyDenied: 'ExplicitDeny', ImplicitlyDenied: 'ImplicitDeny' }[result.overallResult] as Decision;
  const ignored = result.resultType === 'single' ? (result.result.ignoredContextKeys ?? []) : [];
  return { outcome, ignored };
}

/**
 * Disagreements that AWS's documentation decides in hsmkms's favour (or leaves to us), each
 * recognised by a predicate on the case. The test fails on any disagreement none of them
 * explains.
 */
const KNOWN_DIVERGENCES: { name: string; judge: string; explains: (c: Case, ours: Outcome, theirs: Outcome) => boolean }[] = [
  {
    name: 'IP ranges with prefix /0, and bare addresses against the other address family',
    judge:
      'IAM User Guide, "IAM JSON policy elements: Condition operators", IP address condition operators: "The value must be in the ' +
      'standard CIDR format … If you specify an IP address without the associated routing prefix, IAM uses the default prefix value ' +
      'of /32." 0.0.0.0/0 is every IPv4 address; a bare address is a /32, so an IPv6 client is outside it (NotIpAddress holds), as ' +
      'for any IPv4 range. iam-simulate 0.1.173 computes the /0 mask as all ones and compares bare addresses by equality only.',
    explains: (c) => {
      const client = c.context['aws:SourceIp'];
      const family = (address: string) => (address.includes(':') ? 6 : 4);
      return conditions(c).some(
        ({ operator, values }) =>
          /IpAddress/i.test(operator) &&
          values.some((v) => v.endsWith('/0') || (!v.includes('/') && typeof client === 'string' && family(client) !== family(v))),
      );
    },
  },
  {
    name: 'the account root, when the key policy names its account',
    judge:
      'AWS KMS Developer Guide, "Default key policy": the statement naming the account "gives permission to control the key to the ' +
      'account principal, which represents the AWS account and its administrators, including the account root user … you might need ' +
      'to act as the account root user if you delete all other users and roles with access to the KMS key"; the root user needs no ' +
      'identity policy (IAM User Guide, "AWS account root user"). iam-simulate requires an identity policy for the root user too.',
    explains: (c, ours, theirs) => c.principal === `arn:aws:iam::${ACCOUNT}:root` && ours === 'Allow' && theirs === 'ImplicitDeny',
  },
  {
    name: 'policy variables in a 2008-10-17 policy',
    judge:
      'IAM User Guide, "IAM policy elements: Variables and tags": "Variables were introduced in version 2012-10-17 … If you don\'t ' +
      'include the Version element and set it to an appropriate version date, variables like ${aws:username} are treated as literal ' +
      'strings in the policy." iam-simulate substitutes them whatever the version.',
    explains: (c) => [c.keyPolicy, ...c.identityPolicies].some((p) => p.Version === '2008-10-17' && JSON.stringify(p).includes('${')),
  },
  {
    name: 'a negated operator against a policy variable with no value',
    judge:
      'IAM User Guide, "IAM policy elements: Variables and tags", Policy variables with no value: "Inverted condition operators ' +
      'like StringNotEquals or StringNotLike do match against a null value, as the value of the condition key they are testing ' +
      'against is not equal to or like the effectively null value." iam-simulate makes the condition false.',
    explains: (c) =>
      conditions(c).some(
        ({ operator, values }) => /Not/i.test(operator) && values.some((v) => unresolvedVariable(v, c.context)),
      ),
  },
  {
    name: 'NotResource with a policy variable that has no value',
    judge:
      'IAM User Guide, "IAM policy elements: Variables and tags": "If a variable that has no value in the authorization context is ' +
      'used as part of the Resource or NotResource element of a policy, the resource that includes a policy variable with no value ' +
      'will not match any resource." Such a NotResource entry excludes nothing, so the statement applies to the key; iam-simulate ' +
      'makes the statement not apply.',
    explains: (c) => statements(c).some((s) => list(s.NotResource).some((v) => unresolvedVariable(v, c.context))),
  },
  {
    name: '…IfExists with a set operator, on an absent key',
    judge:
      'IAM User Guide, "IAM JSON policy elements: Condition operators", …IfExists condition operators: "If the policy key is present ' +
      'in the context of the request, process the key as specified in the policy. If the key is not present, evaluate the condition ' +
      'element as true." iam-simulate applies ForAnyValue’s rule for absent keys (false) before IfExists.',
    explains: (c) =>
      conditions(c).some(({ operator, key }) => /^ForAnyValue:.*IfExists$/i.test(operator) && !inContext(key, c.context)),
  },
  {
    name: '${*}, ${?} and ${$} in operators without wildcards',
    judge:
      'IAM User Guide, "IAM policy elements: Variables and tags", Special characters: "${*} - use where you need an * (asterisk) ' +
      'character … These predefined policy variables can be used in any string where you can use regular policy variables." ' +
      'iam-simulate leaves them as the escaped text \\* in StringEquals and its relatives.',
    explains: (c) => conditions(c).some(({ operator, values }) => !/Like/i.test(operator) && values.some((v) => /\$\{[*?$]\}/.test(v))),
  },
];

type Statement = Record<string, unknown>;

function statements(c: Case): Statement[] {
  return [c.keyPolicy, ...c.identityPolicies].flatMap((p) => p.Statement);
}

function list(value: unknown): string[] {
  return value === undefined ? [] : Array.isArray(value) ? (value as string[]) : [value as string];
}

function conditions(c: Case): { operator: string; key: string; values: string[] }[] {
  return statements(c).flatMap((s) =>
    Object.entries((s.Condition ?? {}) as Record<string, Record<string, string | string[]>>).flatMap(([operator, block]) =>
      Object.entries(block).map(([key, values]) => ({ operator, key, values: list(values) })),
    ),
  );
}

function inContext(key: string, context: Record<string, string | string[]>): boolean {
  return Object.keys(context).some((k) => k.toLowerCase() === key.toLowerCase());
}

/** Whether a policy string names a variable (without a default) that the context lacks. */
function unresolvedVariable(value: string, context: Record<string, string | string[]>): boolean {
  for (const m of value.matchAll(/\$\{([^}]*)\}/g)) {
    const inner = m[1]!;
    if (inner === '*' || inner === '?' || inner === '$' || inner.includes(", '")) continue;
    const present = Object.entries(context).some(([k, v]) => k.toLowerCase() === inner.toLowerCase() && typeof v === 'string');
    if (!present) return true;
  }
  return false;
}

describe('differential test against @cloud-copilot/iam-simulate', () => {
  it(`agrees on ${CASES} generated cases (seed ${SEED}), except for documented divergences`, async () => {
    const r = seededRandom(SEED);
    const tally = { compared: 0, agreed: 0, bothRejected: 0, decisions: {} as Record<string, number>, divergences: {} as Record<string, number> };
    const unexplained: string[] = [];
    const all: unknown[] = [];
    for (let i = 0; i < CASES; i++) {
      const c = generate(r);
      const their = await theirs(c);
      // iam-simulate drops context keys it does not know for the action; so do we, to compare like with like.
      const context = Object.fromEntries(Object.entries(c.context).filter(([k]) => !their.ignored.includes(k)));
      const our = ours(c, context);
      tally.compared++;
      tally.decisions[our] = (tally.decisions[our] ?? 0) + 1;
      if (our === their.outcome) {
        tally.agreed++;
        if (our === 'rejected') tally.bothRejected++;
        continue;
      }
      all.push({ ours: our, theirs: their.outcome, case: { ...c, context } });
      const divergence = KNOWN_DIVERGENCES.find((d) => d.explains({ ...c, context }, our, their.outcome));
      if (divergence) tally.divergences[divergence.name] = (tally.divergences[divergence.name] ?? 0) + 1;
      else if (unexplained.length < 5)
        unexplained.push(JSON.stringify({ ours: our, theirs: their.outcome, case: { ...c, context } }, null, 1));
      else unexplained.push('…');
    }
    console.log(JSON.stringify(tally));
    if (process.env.DIFF_DUMP) (await import('node:fs')).writeFileSync(process.env.DIFF_DUMP, JSON.stringify(all));
    expect(unexplained, unexplained.slice(0, 5).join('\n\n')).toEqual([]);
    // The generator must produce a useful mix, or the agreement means little.
    for (const decision of ['Allow', 'ExplicitDeny', 'ImplicitDeny']) expect(tally.decisions[decision] ?? 0).toBeGreaterThan(CASES / 20);
  }, 120_000);
});
