/**
 * The SQLite CA store keeps the CA row and certificate rows that every issuance reads; a
 * revocation or reissue committed by another connection (another worker, the CLI) or by its
 * own must show on the next read — on every read for the plain store (OCSP and CRL requests),
 * on the next API call for the view the API operations use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { caAuthority, caCertificate } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const authority = caAuthority('cached');
const intermediate = (serial: string, der: number[]) => caCertificate('cached', serial, 1_790_000_000_000, { issuer: 'root', kind: 'intermediate-ca', certificate: new Uint8Array(der) });

describe('SQLite CA row cache', () => {
  it('is never stale: revocations and reissues through another connection or its own show on the next read', async () => {
    const path = join(dir, 'store.db');
    const worker = await openSqliteStore({ path });
    const cli = await openSqliteStore({ path });
    try {
      await cli.certificateAuthorityStore().insertAuthority(authority, intermediate('4a', [4, 5, 6]));
      const plain = worker.certificateAuthorityStore();
      const api = plain.forApiCalls!();
      const inCall = <T>(fn: () => Promise<T>) => worker.inRequestScope(fn);

      // Filled through both, and a copy each time: changing what a caller got changes nothing.
      expect(await plain.getAuthority('cached')).toStrictEqual(authority);
      expect(await inCall(() => api.getAuthority('cached'))).toStrictEqual(authority);
      const got = (await plain.getCertificate('cached', '4a'))!;
      expect(got.revokedAt).toBeUndefined();
      got.revokedAt = new Date();
      expect((await inCall(() => api.getCertificate('cached', '4a')))?.revokedAt).toBeUndefined();
      // A serial not found is not remembered as missing.
      expect(await plain.getCertificate('cached', '4b')).toBeUndefined();

      // Revoked by the CLI: the next read of either sees it.
      const at = new Date(1_790_000_100_000);
      await cli.certificateAuthorityStore().revokeCertificate('cached', '4a', at, 'keyCompromise');
      expect(await plain.getCertificate('cached', '4a')).toMatchObject({ revokedAt: at, revocationReason: 'keyCompromise' });
      expect(await inCall(() => api.getCertificate('cached', '4a'))).toMatchObject({ revokedAt: at, revocationReason: 'keyCompromise' });

      // Reissued by the CLI: the new intermediate, and its row, on the next read and the next call.
      await cli.certificateAuthorityStore().replaceIntermediate('cached', new Uint8Array([4, 5, 6]), intermediate('4b', [7, 8, 9]));
      expect((await plain.getAuthority('cached'))?.intermediateCertificate).toStrictEqual(new Uint8Array([7, 8, 9]));
      expect((await inCall(() => api.getAuthority('cached')))?.intermediateCertificate).toStrictEqual(new Uint8Array([7, 8, 9]));
      expect((await inCall(() => api.getCertificate('cached', '4b')))?.serial).toBe('4b');

      // Revoked by this very connection (through a transaction), inside a call that read it first.
      await inCall(async () => {
        expect((await api.getCertificate('cached', '4b'))?.revokedAt).toBeUndefined();
        await api.revokeCertificate('cached', '4b', at, 'superseded');
        expect(await api.getCertificate('cached', '4b')).toMatchObject({ revokedAt: at, revocationReason: 'superseded' });
      });
      expect(await plain.getCertificate('cached', '4b')).toMatchObject({ revokedAt: at, revocationReason: 'superseded' });
    } finally {
      await worker.close();
      await cli.close();
    }
  });
});
