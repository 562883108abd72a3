/**
 * HsmKms.ListCertificates: what a CA signed, in issue order, a page at a time (Limit 1–1000,
 * default 100; the one marker format). Reading a CA's records is reading about its issuing key:
 * the caller needs kms:DescribeKey on it (CryptoOfficers and Auditors by role, CryptoUsers
 * through the key policy or a grant). `Status` filters a page after it is read, so a filtered
 * page may hold fewer than Limit and still have a NextMarker.
 */
import { epochSeconds, optionalEnum, optionalInteger, optionalString } from '../validation.js';
import type { Operation } from '../operation.js';
import { pagingFields } from '../operations/key-updates.js';
import { caKey, certificateAuthority, certificateJson, parseCaName } from './certificate-rules.js';
import type { CertificateStatus } from './port.js';

const STATUSES: readonly CertificateStatus[] = ['GOOD', 'REVOKED', 'EXPIRED'];

export const listCertificates: Operation = {
  name: 'ListCertificates',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const caName = parseCaName(input);
    const limit = optionalInteger(input, 'Limit', 1, 1000) ?? 100;
    const marker = optionalString(input, 'Marker', { min: 1, max: 1024 });
    const status = optionalEnum(input, 'Status', STATUSES);
    const ca = certificateAuthority(deps);

    const authority = await ca.describe(caName);
    const key = await caKey(deps, authority, 'intermediate');
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DescribeKey', key, context: {} });

    const page = await ca.listCertificates({ caName: authority.name, limit, marker });
    return {
      CaName: authority.name,
      Certificates: page.certificates.filter((c) => status === undefined || c.status === status).map(certificateJson),
      ...pagingFields(page.nextMarker),
      AsOf: epochSeconds(deps.clock.now()),
    };
  },
};
