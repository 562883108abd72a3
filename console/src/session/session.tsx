/**
 * The signed-in session: who the caller is (HsmKms.GetCallerIdentity) and the two signed
 * clients. It lives in React state only, so it is gone when the tab closes, reloads or signs out.
 */
import { createContext, useContext } from 'react';
import type { KMSClient } from '@aws-sdk/client-kms';
import { roleVerdict } from '../../../src/core/authorization/role-table.js';
import type { CallerIdentity, HsmKmsApi } from '../api/hsmkms-api.js';

export interface Session {
  identity: CallerIdentity;
  region: string;
  /** The partition of the caller's ARN (`aws` unless the service is configured otherwise). */
  partition: string;
  kms: KMSClient;
  hsmkms: HsmKmsApi;
  /** Minutes without activity after which the session ends (chosen at sign-in). */
  idleMinutes: number;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}

/** Whether the caller holds `role` (the account root holds every role). */
export function hasRole(identity: CallerIdentity, role: CallerIdentity['Roles'][number]): boolean {
  return identity.Root || identity.Roles.includes(role);
}

/**
 * Whether the server's role table leaves `action` possible for this caller at all (`allow` or
 * `policy`): the console hides only what this makes pointless; the server decides every call.
 */
export function mayEver(identity: CallerIdentity, action: string): boolean {
  if (identity.Root) return true;
  const { rule } = roleVerdict(identity.Roles, action);
  return rule === 'allow' || rule === 'policy';
}

/** The caller as the policy lockout check names it. */
export function policyCaller(session: Session): { principalArn: string; accountId: string; partition: string } {
  return { principalArn: session.identity.Arn, accountId: session.identity.Account, partition: session.partition };
}
