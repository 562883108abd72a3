/** `hsmkms policy explain`: why a call would be allowed or denied (HsmKms.ExplainAuthorization). */
import { Command } from 'commander';
import type { JsonObject } from '../core/operation.js';
import { addAdminOptions, adminCall, collect, keyValues, type AdminCliOptions } from './admin-call.js';
import { jsonLine, printable } from './output.js';

interface ExplainOptions extends AdminCliOptions {
  principal: string;
  action: string;
  key?: string;
  context?: string[];
  sourceIp?: string;
  secureTransport?: boolean;
  json?: boolean;
}

export function policyCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const policy = new Command('policy');
  const explain = new Command('explain')
    .description('Explain the decision for a principal, an action and a key: Allow, ExplicitDeny, ImplicitDeny or QuorumRequired, and what decided it.')
    .requiredOption('--principal <arn|name>', 'principal ARN (or user name)')
    .requiredOption('--action <action>', 'e.g. kms:Decrypt')
    .option('--key <key>', 'key id, key ARN or alias (required for actions on a key)')
    .option(
      '--context <key=value>',
      'an encryption-context pair (tenant=a) or a condition key (kms:EncryptionAlgorithm=RSAES_OAEP_SHA_256); repeat a condition key for a list',
      collect,
    )
    .option('--source-ip <ip>', 'the caller’s address (aws:SourceIp)')
    .option('--secure-transport', 'the call comes over TLS (aws:SecureTransport)')
    .option('--json', 'print the whole explanation as JSON');
  addAdminOptions(explain).action(async (options: ExplainOptions) => {
    const encryptionContext: Record<string, string> = {};
    const context: Record<string, string | string[]> = {};
    for (const [k, v] of keyValues(options.context, '--context')) {
      if (!k.includes(':')) encryptionContext[k] = v;
      else {
        const previous = context[k];
        context[k] = previous === undefined ? v : [...(Array.isArray(previous) ? previous : [previous]), v];
      }
    }
    const out = await adminCall(options, 'ExplainAuthorization', {
      ...(options.principal.startsWith('arn:') ? { PrincipalArn: options.principal } : { UserName: options.principal }),
      Action: options.action,
      ...(options.key ? { KeyId: options.key } : {}),
      ...(Object.keys(encryptionContext).length ? { EncryptionContext: encryptionContext } : {}),
      ...(Object.keys(context).length ? { Context: context } : {}),
      ...(options.sourceIp ? { SourceIp: options.sourceIp } : {}),
      ...(options.secureTransport ? { SecureTransport: true } : {}),
    });
    const explanation = out.Explanation as JsonObject;
    process.stdout.write(options.json ? jsonLine(explanation, 2) : render(explanation));
  });
  return policy.addCommand(explain);
}

type Statement = {
  Policy: string;
  PolicyType: string;
  Sid?: string;
  Index: number;
  Effect: string;
  Applies: boolean;
  PrincipalMatched: string;
  ActionMatched: boolean;
  ResourceMatched: boolean;
  Conditions: Array<{ Operator: string; Key: string; PolicyValues: string[]; RequestValues: unknown; Held: boolean }>;
};

/** The explanation for a person: decision first, then role, statements, grant, quorum. */
function render(e: JsonObject): string {
  const lines: string[] = [];
  const principal = e.Principal as { Arn: string; Roles: string[]; Root: boolean };
  const role = e.RoleRule as { Rule: string; Role?: string; Category?: string; Note?: string };
  lines.push(`Decision: ${e.Decision} (decided by ${e.DecidedBy})`);
  lines.push(`  ${e.Summary}`);
  lines.push(`Request: ${e.Action} on ${e.Resource}`);
  lines.push(`Caller: ${principal.Arn}${principal.Root ? ' (account root)' : ` — roles: ${principal.Roles.join(', ') || 'none'}`}`);
  lines.push(`Role rule: ${role.Rule}${role.Role ? ` (${role.Role})` : ''}${role.Category ? ` for ${role.Category}` : ''}${role.Note ? ` — ${role.Note}` : ''}`);
  if (e.KeyOwner) lines.push(`Key owner: ${e.KeyOwner}`);
  if (e.GrantId) lines.push(`Grant: ${e.GrantId}`);
  if (e.Message) lines.push(`Message the caller gets: ${e.Message}`);
  const statements = (e.Statements ?? []) as Statement[];
  if (statements.length > 0) {
    lines.push('Statements:');
    for (const s of statements) {
      const name = `${s.Policy}${s.Sid ? ` "${s.Sid}"` : ''} #${s.Index}`;
      const parts = [
        s.PolicyType === 'key' ? `principal ${s.PrincipalMatched}` : undefined,
        `action ${s.ActionMatched ? 'matches' : 'does not match'}`,
        `resource ${s.ResourceMatched ? 'matches' : 'does not match'}`,
      ].filter(Boolean);
      lines.push(`  ${s.Applies ? '✔' : '✘'} ${s.Effect} ${name}: ${s.Applies ? 'applies' : 'does not apply'} (${parts.join(', ')})`);
      for (const c of s.Conditions)
        lines.push(
          `      ${c.Held ? 'held  ' : 'failed'} ${c.Operator} ${c.Key}: policy ${JSON.stringify(c.PolicyValues)} vs request ${JSON.stringify(c.RequestValues)}`,
        );
    }
  }
  const rules = e.QuorumRules as Array<{ RuleId: string; Action: string; MinApprovals: number; Approvers: string[] }> | undefined;
  if (rules)
    for (const r of rules) lines.push(`Quorum rule ${r.RuleId}: ${r.Action} needs ${r.MinApprovals} of ${r.Approvers.length} approvers (${r.Approvers.join(', ')})`);
  // Sids, condition keys and values are what key policies' writers chose.
  return `${lines.map(printable).join('\n')}\n`;
}
