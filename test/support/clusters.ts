/**
 * Extra tokens ("clusters") for token-backed key store tests, made in the run's SoftHSM2
 * directory by this process (C_InitToken on the free slot), with random labels and PINs.
 */
import { randomBytes } from 'node:crypto';
import { initToken } from '../../src/backend/pkcs11/embedded-token.js';

export interface TestCluster {
  label: string;
  userPin: string;
  soPin: string;
}

export async function createTestCluster(prefix = 'cks'): Promise<TestCluster> {
  const label = `${prefix}-${randomBytes(4).toString('hex')}`;
  const userPin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  await initToken({ modulePath: process.env.HSMKMS_TEST_MODULE!, label, soPin, userPin });
  return { label, userPin, soPin };
}
