import { defineConfig } from 'vitest/config';

/**
 * Three projects share one run and one token (test/global-setup.ts makes it once, in the root):
 * - `softhsm2`: every test, against SoftHSM2 directly;
 * - `cloudhsm`: the backend and API suites again, plus the fault-injection tests, under the
 *   `cloudhsm` profile through the PKCS#11 interposer (test/pkcs11-interposer): 0.3 ms of latency
 *   per call, every call off the event loop, CloudHSM's GCM IV, CKA_ID and PIN rules;
 * - `three-nodes`: the API suites again against a deployment: three `hsmkms serve` processes on
 *   the token and one PostgreSQL (started by test/three-nodes-setup.ts), each request sent to a
 *   random node (test/support/server.ts, deployment.ts).
 */
const CLOUDHSM_SUITES = [
  'test/backend/pkcs11/operations.test.ts',
  'test/backend/pkcs11/lifecycle.test.ts',
  'test/backend/pkcs11/import.test.ts',
  'test/backend/pkcs11/unwrap-template.test.ts',
  'test/backend/pkcs11/off-loop.test.ts',
  'test/backend/pkcs11/faults.test.ts',
  'test/backend/pkcs11/close-hung.test.ts',
  'test/backend/pkcs11/interposer-stats.test.ts',
  'test/backend/pkcs11/session-queueing.test.ts',
  'test/backend/pkcs11/login-retry.test.ts',
  'test/backend/pkcs11/refused-login.test.ts',
  'test/backend/pkcs11/keyring-list.test.ts',
  'test/backend/pkcs11/handle-epochs.test.ts',
  'test/backend/pkcs11/stale-handles.test.ts',
  'test/backend/pkcs11/session-gone.test.ts',
  'test/backend/pkcs11/replica-transport.test.ts',
  'test/backend/pkcs11/key-agreement.test.ts',
  'test/backend/pkcs11/missing-mechanisms.test.ts',
  'test/core/material-destruction-faults.test.ts',
  'test/api/**/*.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'softhsm2',
          include: ['test/**/*.test.ts'],
          // Tests that need the interposer run in the cloudhsm project only.
          exclude: ['test/backend/pkcs11/off-loop.test.ts', 'test/backend/pkcs11/faults.test.ts', 'test/backend/pkcs11/close-hung.test.ts', 'test/backend/pkcs11/interposer-stats.test.ts', 'test/backend/pkcs11/session-queueing.test.ts', 'test/backend/pkcs11/login-retry.test.ts', 'test/backend/pkcs11/refused-login.test.ts', 'test/backend/pkcs11/keyring-list.test.ts', 'test/backend/pkcs11/handle-epochs.test.ts', 'test/backend/pkcs11/session-gone.test.ts', 'test/backend/pkcs11/missing-mechanisms.test.ts', 'test/core/material-destruction-faults.test.ts'],
          globalSetup: [],
        },
      },
      {
        extends: true,
        test: {
          name: 'cloudhsm',
          include: CLOUDHSM_SUITES,
          // Two `hsmkms serve` processes on their own embedded SoftHSM2 tokens: the profile does not reach them.
          exclude: ['test/api/multi-region.test.ts', 'test/api/multi-region-promotion.test.ts'],
          globalSetup: [],
          env: {
            HSMKMS_TEST_PROFILE: 'cloudhsm',
            HSMKMS_INTERPOSER_MODULE: '/usr/lib/softhsm/libsofthsm2.so',
            HSMKMS_INTERPOSER_CLOUDHSM: '1',
            HSMKMS_INTERPOSER_LATENCY_US: '300',
          },
        },
      },
      {
        extends: true,
        test: {
          name: 'three-nodes',
          include: ['test/api/**/*.test.ts'],
          exclude: [
            // Reads one process's audit writer (flush, its chain's record and digest counts) and needs a server with the trail off.
            'test/api/audit-reading.test.ts',
            // Starts two deployments of its own (startServer is not used): it would run unchanged.
            'test/api/multi-region.test.ts',
            'test/api/multi-region-promotion.test.ts',
          ],
          globalSetup: ['test/three-nodes-setup.ts'],
          env: { HSMKMS_TEST_DEPLOYMENT: 'three-nodes' },
        },
      },
    ],
  },
});
