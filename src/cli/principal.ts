/**
 * `hsmkms principal …`: the identities that may call the API, their roles, identity policies
 * and access keys. Each command runs the `HsmKms.*` operation of the same name, offline on the
 * data directory or, with `--endpoint`, against a server (see admin-call.ts).
 */
import { Command, Option } from 'commander';
import { readPolicyFile } from './policy-file.js';
import { jsonLine } from './output.js';
import { PRINCIPAL_ROLES } from '../core/model.js';
import { addAdminOptions, adminCall, collect, keyValues, type AdminCliOptions } from './admin-call.js';

const ROLES = [...PRINCIPAL_ROLES];

function print(value: unknown): void {
  process.stdout.write(jsonLine(value));
}

function roleOption(description: string): Option {
  return new Option('--role <role...>', description).choices(ROLES);
}

export function principalCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const principal = new Command('principal');

  const create = new Command('create')
    .description('Create a principal and an access key; prints {"arn","accessKeyId","secretAccessKey"} as JSON.')
    .argument('<name>', 'user name (1–64 of letters, digits and +=,.@_-)')
    .addOption(roleOption('roles (default: CryptoUser)'))
    .option('--tag <key=value>', 'a tag for aws:PrincipalTag/… conditions (repeatable)', collect);
  addAdminOptions(create).action(async (name: string, options: AdminCliOptions & { role?: string[]; tag?: string[] }) => {
    const tags = keyValues(options.tag, '--tag').map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
    const out = await adminCall(options, 'CreatePrincipal', {
      UserName: name,
      ...(options.role ? { Roles: options.role } : {}),
      ...(tags.length ? { Tags: tags } : {}),
    });
    print({ arn: out.Arn, accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey });
  });

  const list = new Command('list').description('List principals as JSON lines (no secrets).');
  addAdminOptions(list).action(async (options: AdminCliOptions) => {
    let marker: string | undefined;
    do {
      const page = await adminCall(options, 'ListPrincipals', { Limit: 1000, ...(marker ? { Marker: marker } : {}) });
      for (const p of page.Principals as Array<{ Arn: string; UserName: string; Roles: string[]; CreateDate: number }>)
        print({ arn: p.Arn, name: p.UserName, roles: p.Roles, createdAt: new Date(p.CreateDate * 1000).toISOString() });
      marker = typeof page.NextMarker === 'string' ? page.NextMarker : undefined;
    } while (marker);
  });

  const get = new Command('get')
    .description('Show a principal: roles, tags, identity policies, access key ids (never secrets) and how many keys it owns.')
    .argument('<name>', 'user name');
  addAdminOptions(get).action(async (name: string, options: AdminCliOptions) => {
    const out = await adminCall(options, 'GetPrincipal', { UserName: name });
    const p = out.Principal as Record<string, unknown> & { Policies: Array<Record<string, unknown>> };
    print({
      arn: p.Arn,
      name: p.UserName,
      roles: p.Roles,
      tags: Object.fromEntries((p.Tags as Array<{ TagKey: string; TagValue: string }>).map((t) => [t.TagKey, t.TagValue])),
      policies: p.Policies.map((policy) => ({ name: policy.PolicyName, document: JSON.parse(String(policy.PolicyDocument)) })),
      accessKeys: (p.AccessKeys as Array<{ AccessKeyId: string; Status: string; CreateDate: number }>).map((k) => ({
        accessKeyId: k.AccessKeyId,
        status: k.Status,
        createdAt: new Date(k.CreateDate * 1000).toISOString(),
      })),
      ownedKeys: p.OwnedKeyCount,
    });
  });

  const putPolicy = new Command('put-policy')
    .description('Attach (or replace) a named IAM identity policy; effective on the principal’s next request.')
    .argument('<name>', 'user name')
    .requiredOption('--policy-name <policy>', 'policy name')
    .requiredOption('--policy-file <file>', 'the policy document (JSON)');
  addAdminOptions(putPolicy).action(async (name: string, options: AdminCliOptions & { policyName: string; policyFile: string }) => {
    const document = readPolicyFile(options.policyFile);
    await adminCall(options, 'PutPrincipalPolicy', { UserName: name, PolicyName: options.policyName, PolicyDocument: document });
  });

  const deletePolicy = new Command('delete-policy')
    .description('Remove a named identity policy.')
    .argument('<name>', 'user name')
    .requiredOption('--policy-name <policy>', 'policy name');
  addAdminOptions(deletePolicy).action(async (name: string, options: AdminCliOptions & { policyName: string }) => {
    await adminCall(options, 'DeletePrincipalPolicy', { UserName: name, PolicyName: options.policyName });
  });

  const setRoles = new Command('set-roles')
    .description('Replace the principal’s roles.')
    .argument('<name>', 'user name')
    .addOption(roleOption('the new roles').makeOptionMandatory());
  addAdminOptions(setRoles).action(async (name: string, options: AdminCliOptions & { role: string[] }) => {
    await adminCall(options, 'UpdatePrincipalRoles', { UserName: name, Roles: options.role });
  });

  const tag = new Command('tag')
    .description('Add or replace tags of the principal (a RegionPeer is bound to its region by hsmkms:PeerRegion=REGION).')
    .argument('<name>', 'user name')
    .requiredOption('--tag <key=value>', 'a tag (repeatable)', collect);
  addAdminOptions(tag).action(async (name: string, options: AdminCliOptions & { tag: string[] }) => {
    const tags = keyValues(options.tag, '--tag').map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
    await adminCall(options, 'TagPrincipal', { UserName: name, Tags: tags });
  });

  const remove = new Command('delete')
    .description('Delete the principal with its access keys and policies; keys it owned stay, without an owner.')
    .argument('<name>', 'user name');
  addAdminOptions(remove).action(async (name: string, options: AdminCliOptions) => {
    await adminCall(options, 'DeletePrincipal', { UserName: name });
  });

  const createKey = new Command('create-access-key')
    .description('A second access key (for rotation); prints {"accessKeyId","secretAccessKey"}.')
    .argument('<name>', 'user name');
  addAdminOptions(createKey).action(async (name: string, options: AdminCliOptions) => {
    const out = await adminCall(options, 'CreateAccessKey', { UserName: name });
    const key = out.AccessKey as { AccessKeyId: string; SecretAccessKey: string };
    print({ accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
  });

  const deleteKey = new Command('delete-access-key')
    .description('Delete an access key; it stops working on its next request.')
    .argument('<name>', 'user name')
    .requiredOption('--access-key-id <id>', 'the access key id');
  addAdminOptions(deleteKey).action(async (name: string, options: AdminCliOptions & { accessKeyId: string }) => {
    await adminCall(options, 'DeleteAccessKey', { UserName: name, AccessKeyId: options.accessKeyId });
  });

  for (const command of [create, list, get, putPolicy, deletePolicy, setRoles, tag, remove, createKey, deleteKey]) principal.addCommand(command);
  return principal;
}
