/**
 * Builds the KMS core's dependencies for tests from the real parts: a SQLite metadata store
 * (in memory, fresh per call) and the PKCS#11 backend on the run's SoftHSM2 token
 * (see test/global-setup.ts).
 */
import { openPkcs11Backend } from '../../src/backend/pkcs11/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { testHsmConfig } from './hsm.js';
import type { KmsDeps, KmsSettings, RequestContext } from '../../src/core/operation.js';
import type { AuditEvent, Authorizer, Clock, KeyBackend, MetadataStore } from '../../src/core/ports.js';
import type { PrincipalRecord } from '../../src/core/model.js';

/** A clock tests can move forward. */
export class TestClock implements Clock {
  private current: Date;
  constructor(start = new Date()) {
    this.current = new Date(start);
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export const TEST_SETTINGS: KmsSettings = { accountId: '111122223333', region: 'us-east-1', partition: 'aws' };

export const TEST_ROOT: PrincipalRecord = {
  arn: `arn:aws:iam::${TEST_SETTINGS.accountId}:root`,
  name: 'root',
  accountId: TEST_SETTINGS.accountId,
  roles: ['CryptoOfficer', 'CryptoUser', 'Auditor'],
  createdAt: new Date(0),
};

export interface TestKms {
  deps: KmsDeps;
  ctx: RequestContext;
  clock: TestClock;
  store: MetadataStore;
  backend: KeyBackend;
  audit: AuditEvent[];
  close(): Promise<void>;
}

let sharedBackend: Promise<KeyBackend> | undefined;

/** The PKCS#11 backend on the run's token (as the test project configures it), opened once per test file (worker). */
export function testBackend(): Promise<KeyBackend> {
  sharedBackend ??= openPkcs11Backend(testHsmConfig());
  return sharedBackend;
}

/** The core's dependencies on real parts; `backend` replaces the run's shared backend. */
export async function createTestKms(options: { backend?: KeyBackend } = {}): Promise<TestKms> {
  const store = await openSqliteStore({ path: ':memory:' });
  const backend = options.backend ?? (await testBackend());
  const clock = new TestClock();
  const audit: AuditEvent[] = [];
  const allowAccount: Authorizer = {
    async authorize() {
      /* the account's principals may do everything until key policies are enforced */
    },
  };
  const deps: KmsDeps = {
    store,
    backend,
    clock,
    audit: {
      record: (e) => {
        audit.push(e);
      },
    },
    authorizer: allowAccount,
    settings: TEST_SETTINGS,
  };
  const ctx: RequestContext = { requestId: 'test-request', principal: TEST_ROOT };
  return { deps, ctx, clock, store, backend, audit, close: () => store.close() };
}
