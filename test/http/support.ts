/**
 * A test harness for the HTTP adapter: the real server, dispatcher, metrics and logger, with a
 * handful of operations defined here under real KMS names, and requests signed by the AWS
 * SDK's own signer.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { FastifyInstance } from 'fastify';
import { buildServer, type ServerOptions } from '../../src/http/build-server.js';
import { createDispatcher } from '../../src/core/dispatch.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createLogger } from '../../src/observability/logger.js';
import { KmsError } from '../../src/core/errors.js';
import { HsmError } from '../../src/backend/pkcs11/errors.js';
import type { CredentialResolver } from '../../src/auth/credentials.js';
import type { KmsDeps, KmsSettings, Operation } from '../../src/core/operation.js';
import type { AuditEvent, KeyBackend, MetadataStore } from '../../src/core/ports.js';
import type { PrincipalRecord } from '../../src/core/model.js';

export const SETTINGS: KmsSettings = { accountId: '111122223333', region: 'eu-west-3', partition: 'aws' };
export const FIXED_RANDOM = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
export const KEY_ARN = `arn:aws:kms:${SETTINGS.region}:${SETTINGS.accountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

export const PRINCIPAL: PrincipalRecord = {
  arn: `arn:aws:iam::${SETTINGS.accountId}:user/alice`,
  name: 'alice',
  accountId: SETTINGS.accountId,
  roles: ['CryptoUser'],
  createdAt: new Date(0),
};

/** Operations under real KMS names whose behaviour the tests control. */
export const OPERATIONS: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'GenerateRandom',
    {
      name: 'GenerateRandom',
      async run(_deps, _ctx, input) {
        const n = typeof input.NumberOfBytes === 'number' ? input.NumberOfBytes : FIXED_RANDOM.length;
        return { Plaintext: FIXED_RANDOM.subarray(0, n).toString('base64') };
      },
    },
  ],
  [
    'DescribeKey',
    {
      name: 'DescribeKey',
      async run(_deps, _ctx, input) {
        throw new KmsError('NotFoundException', `Key '${String(input.KeyId)}' does not exist`);
      },
    },
  ],
  [
    'Encrypt',
    {
      name: 'Encrypt',
      async run() {
        throw new HsmError('CKR_DEVICE_ERROR', 0x30, 'C_EncryptInit', 'unavailable');
      },
    },
  ],
  [
    'CreateKey',
    {
      name: 'CreateKey',
      async run() {
        throw new TypeError("Cannot read properties of undefined (reading 'keyId')");
      },
    },
  ],
  [
    'Decrypt',
    {
      name: 'Decrypt',
      async run() {
        return { KeyId: KEY_ARN, Plaintext: FIXED_RANDOM.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      },
    },
  ],
]);

export interface Harness {
  server: FastifyInstance;
  accessKeyId: string;
  secretAccessKey: string;
  audit: AuditEvent[];
  logs: () => string;
  health: { ok: boolean };
  metrics: Metrics;
  now: { value: Date };
  close(): Promise<void>;
}

export async function createHarness(extra: Partial<ServerOptions> = {}): Promise<Harness> {
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  const credentials: CredentialResolver = {
    async resolve(id) {
      return id === accessKeyId ? { secretAccessKey, principal: PRINCIPAL } : undefined;
    },
  };
  const audit: AuditEvent[] = [];
  const chunks: string[] = [];
  const logger = createLogger(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
  );
  const now = { value: new Date() };
  // These operations touch neither store nor backend; anything that did would fail loudly.
  const deps: KmsDeps = {
    store: {} as MetadataStore,
    backend: {} as KeyBackend,
    clock: { now: () => now.value },
    audit: {
      record: (event) => {
        audit.push(event);
      },
    },
    authorizer: { authorize: async () => undefined },
    settings: SETTINGS,
  };
  const health = { ok: true };
  const metrics = createMetrics({ stats: () => ({ sessionsInUse: 1, sessionsIdle: 7 }), processMetrics: false });
  const server = await buildServer({
    dispatcher: createDispatcher(deps, OPERATIONS, logger.child({ component: 'kms' })),
    credentials,
    settings: SETTINGS,
    health: async () => (health.ok ? { ok: true } : { ok: false, detail: 'C_GetSessionInfo failed: CKR_DEVICE_REMOVED' }),
    metrics,
    logger,
    clock: () => now.value,
    bodyLimit: 64 * 1024,
    ...extra,
  });
  return { server, accessKeyId, secretAccessKey, audit, logs: () => chunks.join(''), health, metrics, now, close: () => server.close() };
}

export interface SignOptions {
  target?: string | undefined;
  body?: string;
  contentType?: string;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
  service?: string;
  signingDate?: Date;
  host?: string;
  /** Headers added after signing, so outside SignedHeaders (what a replaying attacker adds). */
  unsigned?: Record<string, string>;
}

/** Headers for a request signed exactly as the AWS SDK signs it. */
export async function signedHeaders(options: SignOptions): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    region: options.region ?? SETTINGS.region,
    service: options.service ?? 'kms',
    sha256: Sha256,
  });
  const headers: Record<string, string> = {
    host: options.host ?? 'localhost:80',
    'content-type': options.contentType ?? 'application/x-amz-json-1.1',
  };
  if (options.target !== undefined) headers['x-amz-target'] = options.target;
  for (const name of Object.keys(options.unsigned ?? {})) delete headers[name];
  const signed = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: 'localhost', path: '/', headers, body: options.body ?? '{}' },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  return { ...signed.headers, ...options.unsigned };
}
