/** Record builders for store tests: complete, valid records with overridable fields. */
import { randomBytes } from 'node:crypto';
import type {
  AccessKeyRecord,
  AliasRecord,
  ImportTokenRecord,
  KeyMaterialVersion,
  KeyRecord,
  PrincipalRecord,
} from '../../src/core/model.js';
import type { CaAuthorityRecord, IssuedCertificateRecord } from '../../src/ca/index.js';

export const ACCOUNT = '111122223333';
let sequence = 0;

/** A key id that sorts in creation order within a test. */
export function nextKeyId(): string {
  sequence += 1;
  return `00000000-0000-4000-8000-${sequence.toString().padStart(12, '0')}`;
}

export function key(overrides: Partial<KeyRecord> = {}): KeyRecord {
  const keyId = overrides.keyId ?? nextKeyId();
  return {
    keyId,
    arn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/${keyId}`,
    accountId: ACCOUNT,
    description: '',
    keySpec: 'SYMMETRIC_DEFAULT',
    keyUsage: 'ENCRYPT_DECRYPT',
    origin: 'AWS_KMS',
    keyState: 'Enabled',
    creationDate: new Date('2026-01-02T03:04:05.678Z'),
    policy: '{"Version":"2012-10-17","Statement":[]}',
    rotationEnabled: false,
    currentVersionId: 'a'.repeat(64),
    revision: 1,
    ...overrides,
  };
}

export function version(keyId: string, overrides: Partial<KeyMaterialVersion> = {}): KeyMaterialVersion {
  return {
    keyId,
    versionId: randomBytes(32).toString('hex'),
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    wrappedMaterial: new Uint8Array(randomBytes(40)),
    ...overrides,
  };
}

export function alias(name: string, targetKeyId: string, overrides: Partial<AliasRecord> = {}): AliasRecord {
  return {
    aliasName: name,
    aliasArn: `arn:aws:kms:us-east-1:${ACCOUNT}:${name}`,
    targetKeyId,
    creationDate: new Date('2026-02-03T04:05:06.789Z'),
    lastUpdatedDate: new Date('2026-02-03T04:05:06.789Z'),
    ...overrides,
  };
}

export function principal(name: string, overrides: Partial<PrincipalRecord> = {}): PrincipalRecord {
  return {
    arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
    name,
    accountId: ACCOUNT,
    roles: ['CryptoUser'],
    createdAt: new Date('2026-03-04T05:06:07.890Z'),
    ...overrides,
  };
}

export function accessKey(principalArn: string, overrides: Partial<AccessKeyRecord> = {}): AccessKeyRecord {
  return {
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    principalArn,
    sealedSecret: new Uint8Array(randomBytes(60)),
    createdAt: new Date('2026-03-04T05:06:07.891Z'),
    status: 'Active',
    ...overrides,
  };
}

export function importToken(keyId: string, overrides: Partial<ImportTokenRecord> = {}): ImportTokenRecord {
  return {
    tokenId: randomBytes(16).toString('hex'),
    keyId,
    wrappingKeySpec: 'RSA_2048',
    wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
    wrappedPrivateKey: new Uint8Array(randomBytes(1200)),
    publicKey: new Uint8Array(randomBytes(294)),
    createdAt: new Date('2026-04-05T06:07:08.901Z'),
    expiresAt: new Date('2026-04-06T06:07:08.901Z'),
    ...overrides,
  };
}

/** Compares records whose byte fields may come back as Buffer rather than Uint8Array. */
export function normaliseBytes<T>(value: T): T {
  if (value instanceof Uint8Array) return Uint8Array.from(value) as T;
  if (Array.isArray(value)) return value.map(normaliseBytes) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseBytes(v)])) as T;
  }
  return value;
}

/** A CA record (its certificates stand-in bytes). */
export const caAuthority = (name: string): CaAuthorityRecord => ({
  name,
  createdAt: new Date(1_790_000_000_000),
  keySpec: 'ECC_NIST_P384',
  baseUrl: 'http://ca.example.internal',
  rootKeyId: 'arn:aws:kms:us-east-1:111122223333:key/root',
  intermediateKeyId: 'arn:aws:kms:us-east-1:111122223333:key/intermediate',
  ocspKeyId: 'arn:aws:kms:us-east-1:111122223333:key/ocsp',
  rootCertificate: new Uint8Array([1, 2, 3]),
  intermediateCertificate: new Uint8Array([4, 5, 6]),
});

/** A certificate record of `caName`, a tls-server leaf of the intermediate unless `extra` says otherwise. */
export const caCertificate = (caName: string, serial: string, issuedAtMs: number, extra: Partial<IssuedCertificateRecord> = {}): IssuedCertificateRecord => ({
  caName,
  serial,
  issuer: 'intermediate',
  kind: 'tls-server',
  subject: `CN=${serial}.example.com`,
  notBefore: new Date(issuedAtMs),
  notAfter: new Date(issuedAtMs + 86_400_000),
  issuedAt: new Date(issuedAtMs),
  certificate: new Uint8Array([serial.length]),
  ...extra,
});
