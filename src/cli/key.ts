/**
 * `hsmkms key …`: break-glass key administration offline on the data directory (see
 * offline.ts): for when no principal may change a key any more — a key policy that locks
 * everyone out, its owner deleted — and the operator who holds the data directory and the HSM
 * must put it right. Every change goes into the audit trail naming the operator.
 */
import { Command } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { KmsError } from '../core/errors.js';
import { addAdminOptions, adminCall, type AdminCliOptions } from './admin-call.js';
import { addAuditDirOption } from './audit-options.js';
import { addHsmOptions } from './hsm-options.js';
import { readPolicyFile } from './policy-file.js';
import type { OfflineCliOptions } from './offline.js';
import { addStoreOptions } from './store-options.js';
import { addServiceOptions } from './service-options.js';
import { jsonLine } from './output.js';

export function keyCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const key = new Command('key');

  const putPolicy = new Command('put-policy')
    .description(
      'Replace a key policy with the account root’s authority, e.g. to recover a key whose policy locks everyone out. ' +
        'Works beside a running server (the change applies to its next request) and is recorded in the audit trail.',
    )
    .argument('<key-id>', 'key id, key ARN, alias name or alias ARN')
    .requiredOption('--policy-file <file>', 'the new key policy (JSON)')
    .option('--policy-name <name>', 'policy name (AWS has only "default")', 'default')
    .option('--bypass-policy-lockout-safety-check', 'accept a policy that would not let the account root change it again');
  addStoreOptions(addAuditDirOption(addServiceOptions(addHsmOptions(putPolicy)))).action(
    async (keyId: string, options: OfflineCliOptions & { policyFile: string; policyName: string; bypassPolicyLockoutSafetyCheck?: boolean }) => {
      const policy = readPolicyFile(options.policyFile);
      const [{ putKeyPolicy }, { runOffline }] = await Promise.all([import('../core/operations/put-key-policy.js'), import('./offline.js')]);
      try {
        await runOffline(options, putKeyPolicy, {
          KeyId: keyId,
          PolicyName: options.policyName,
          Policy: policy,
          ...(options.bypassPolicyLockoutSafetyCheck ? { BypassPolicyLockoutSafetyCheck: true } : {}),
        });
      } catch (error) {
        // The safety check's AWS wording, with what the operator can do about it.
        if (error instanceof KmsError && error.type === 'MalformedPolicyDocumentException' && error.message.includes('update the key policy in the future'))
          throw new ConfigError(`${error.message} Give --bypass-policy-lockout-safety-check to put it anyway.`);
        throw error;
      }
    },
  );

  const removeCreatingReplica = new Command('remove-creating-replica')
    .description(
      'Remove a multi-Region replica left in KeyState Creating in this region because its primary\'s deployment never came back. ' +
        'Refused while a transfer to it could still complete (ten minutes after its last PrepareReplica); audited.',
    )
    .argument('<key-id>', 'the replica\'s key id (mrk-…)');
  addAdminOptions(removeCreatingReplica).action(async (keyId: string, options: AdminCliOptions) => {
    const out = await adminCall(options, 'RemoveCreatingReplica', { KeyId: keyId });
    process.stdout.write(jsonLine(out));
  });

  return key.addCommand(putPolicy).addCommand(removeCreatingReplica);
}
