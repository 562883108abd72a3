/** The key policy a key gets when CreateKey names none, as AWS KMS writes it. */
import type { KmsSettings } from '../operation.js';

/**
 * AWS's default key policy: one statement giving the account root full access to the key,
 * which delegates access control to the account's identity policies.
 */
export function defaultKeyPolicy(settings: Pick<KmsSettings, 'partition' | 'accountId'>): string {
  const policy = {
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${settings.partition}:iam::${settings.accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
  return JSON.stringify(policy, null, 2);
}
