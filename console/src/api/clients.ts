/**
 * The two signed clients a session holds: the AWS SDK's own KMS client (TrentService) and the
 * HsmKms client, both for this page's origin and with the credentials typed at sign-in, which
 * live only in these objects — never in storage, cookies or the URL.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { Sha256 as Sha256Js } from '@aws-crypto/sha256-js';
import { HsmKmsApi } from './hsmkms-api.js';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Clients {
  kms: KMSClient;
  hsmkms: HsmKmsApi;
  /** Closes connections and drops the clients' hold on the credentials. */
  destroy(): void;
}

export function createClients(region: string, credentials: Credentials): Clients {
  const endpoint = window.location.origin;
  // WebCrypto (the SDK's browser SHA-256) exists only in secure contexts (HTTPS, localhost); a
  // console served over plain HTTP elsewhere signs with the SDK's pure-JavaScript SHA-256.
  const kms = new KMSClient({
    region,
    endpoint,
    credentials: { ...credentials },
    maxAttempts: 2,
    ...(window.isSecureContext ? {} : { sha256: Sha256Js }),
  });
  const hsmkms = new HsmKmsApi({ endpoint, region, credentials: { ...credentials }, sha256: kms.config.sha256 });
  return { kms, hsmkms, destroy: () => kms.destroy() };
}
