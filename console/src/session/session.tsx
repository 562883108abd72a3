/**
 * The signed-in session: who the caller is (HsmKms.GetCallerIdentity) and the two signed
 * clients. It lives in React state only, so it is gone when the tab closes, reloads or signs out.
 */
import { createContext, useContext } from 'react';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { CallerIdentity, HsmKmsApi } from '../api/hsmkms-api.js';

export interface Session {
  identity: CallerIdentity;
  region: string;
  /** The partition of the caller's ARN (`aws` unless the service is configured otherwise). */
  partition: string;
  kms: KMSClient;
  hsmkms: HsmKmsApi;
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

/** The caller as the policy lockout check names it. */
export function policyCaller(session: Session): { principalArn: string; accountId: string; partition: string } {
  return { principalArn: session.identity.Arn, accountId: session.identity.Account, partition: session.partition };
}
