/**
 * A token that lacks a key spec's mechanisms (the interposer hides EdDSA from C_GetMechanismList,
 * as AWS CloudHSM's library lists none): CreateKey refuses the spec up front, naming what the
 * token lacks, instead of failing in C_GenerateKeyPair with an internal error.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sdkFailure } from '../../support/errors.js';
import { interposerControl } from '../../support/interposer.js';
import { startServer, type RunningServer } from '../../support/server.js';

const control = interposerControl();
let server: RunningServer;
let kms: KMSClient;

beforeAll(async () => {
  // CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA; read once, when the backend opens.
  control.set(['hidden_mechanisms=0x1055,0x1057']);
  server = await startServer();
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  control.set([]);
  kms?.destroy();
  await server?.close();
  control.dispose();
});

it('refuses ECC_NIST_EDWARDS25519 keys with UnsupportedOperationException naming the missing mechanisms; other specs are made', async () => {
  const refused = await sdkFailure(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' })));
  expect(refused).toEqual({
    name: 'UnsupportedOperationException',
    status: 400,
    message: 'This HSM does not offer CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA, which ECC_NIST_EDWARDS25519 keys need; it cannot hold ECC_NIST_EDWARDS25519 keys.',
  });
  const made = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
  expect(made.KeyMetadata?.KeySpec).toBe('ECC_NIST_P256');
});
