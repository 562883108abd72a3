/**
 * What the key store pages read: every custom key store (DescribeCustomKeyStores, page by page),
 * and what each connection error code means here — where AWS says "cluster", hsmkms means a token
 * configured with `hsmkms serve --cluster`.
 */
import { DescribeCustomKeyStoresCommand, type CustomKeyStoresListEntry, type KMSClient } from '@aws-sdk/client-kms';
import type { ConnectionErrorCode, ConnectionState } from '../../../../src/core/key-stores/model.js';

/** Pages read at most: an account has at most a handful of stores (AWS: 10 by default). */
const MAX_PAGES = 20;

export async function listAllKeyStores(kms: KMSClient): Promise<CustomKeyStoresListEntry[]> {
  const out: CustomKeyStoresListEntry[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
    out.push(...(answer.CustomKeyStores ?? []));
    if (!answer.Truncated || !answer.NextMarker) break;
    marker = answer.NextMarker;
  }
  return out;
}

/** States a store passes through by itself after Connect or Disconnect: the page polls while one lasts. */
export function settling(state: string | undefined): boolean {
  return state === 'CONNECTING' || state === 'DISCONNECTING';
}

/** What to do about each ConnectionErrorCode, for the person looking at a FAILED store. */
export const CONNECTION_ERROR_HELP: Record<ConnectionErrorCode, string> = {
  INVALID_CREDENTIALS: 'The key store password is not the token’s user PIN (or the PIN changed). Disconnect, update the password, connect again.',
  CLUSTER_NOT_FOUND: 'No token with this cluster id is configured on this server any more. Restart hsmkms serve with --cluster for it, or update the store to another cluster.',
  NETWORK_ERRORS: 'The HSM could not be reached. Check the PKCS#11 module’s connection to the HSM, then disconnect and connect again.',
  INTERNAL_ERROR: 'The connection failed for a reason hsmkms could not classify; the server log says more. Disconnect and try again.',
  INSUFFICIENT_CLOUDHSM_HSMS: 'The cluster has no active HSM to connect to. Add one, then disconnect and connect again.',
  USER_LOCKED_OUT: 'The token user is locked after too many wrong PINs. Unlock it with the token’s security officer, then reconnect.',
  USER_NOT_FOUND: 'The token has no user to log in as (its user PIN was never set).',
  USER_LOGGED_IN: 'Another application is logged in to the token as its user. Log it out, then disconnect and connect again.',
  SUBNET_NOT_FOUND: 'A subnet of the cluster is missing (AWS CloudHSM only).',
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: 'A subnet of the cluster has no free address (AWS CloudHSM only).',
  XKS_PROXY_ACCESS_DENIED: 'The XKS proxy refused the credential. Update the proxy authentication credential to one the proxy accepts.',
  XKS_PROXY_NOT_REACHABLE: 'The XKS proxy did not answer. Check its endpoint, that it runs, and the network between.',
  XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND: 'The VPC endpoint service was not found (AWS only; hsmkms reaches proxies at a public endpoint).',
  XKS_PROXY_INVALID_RESPONSE: 'The XKS proxy answered something that is not a valid XKS API response. Check its version and path.',
  XKS_PROXY_INVALID_CONFIGURATION: 'The proxy’s endpoint or path does not lead to an XKS API. Check the URI path (…/kms/xks/v1).',
  XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION: 'The VPC endpoint service is misconfigured (AWS only).',
  XKS_PROXY_TIMED_OUT: 'The XKS proxy answered too slowly. Check its load and the network; hsmkms waits --xks-proxy-timeout-ms.',
  XKS_PROXY_INVALID_TLS_CONFIGURATION: 'The TLS handshake with the XKS proxy failed: its certificate is not trusted or does not name its host.',
};

export function connectionHelp(code: string | undefined): string | undefined {
  return code && code in CONNECTION_ERROR_HELP ? CONNECTION_ERROR_HELP[code as ConnectionErrorCode] : undefined;
}

/** Words for a state, as the badge's accessible text. */
export const STATE_TEXT: Record<ConnectionState, string> = {
  CONNECTED: 'Connected',
  CONNECTING: 'Connecting',
  DISCONNECTED: 'Disconnected',
  DISCONNECTING: 'Disconnecting',
  FAILED: 'Failed',
};

/** How a store is named to a person in lists of keys: its name, else its id. */
export function storeLabel(stores: readonly CustomKeyStoresListEntry[] | undefined, id: string): string {
  return stores?.find((s) => s.CustomKeyStoreId === id)?.CustomKeyStoreName ?? id;
}
