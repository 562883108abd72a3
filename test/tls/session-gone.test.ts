/**
 * The TLS addon, told by the module that its session is closed already (session-codes.h, the
 * `gone` codes), reconnects without closing that session: on an HSM that reuses session numbers
 * the number may belong by then to a new session of the KMS backend in the same process, which
 * our "cleanup" would close under it.
 *
 * The interposer makes the addon's C_Sign return CKR_SESSION_HANDLE_INVALID on its live session,
 * and its object log shows every session the module closes: none may be the addon's. The
 * handshake still succeeds, signed on a new session.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HsmConfig } from '../../src/config/hsm.js';
import { createHsmHttpsServer, generateTlsKey, hsmTlsStats } from '../../src/tls/index.js';
import { interposerControl } from '../support/interposer.js';
import { createTestCa, interposedTestHsm, listen, run, uniqueLabel } from './support.js';

const control = interposerControl();
const hsm: HsmConfig = interposedTestHsm('softhsm2');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-session-gone-'));
const caFile = join(dir, 'ca.pem');
const log = join(dir, 'objects.log');
let ec: { keyUri: string; cert: string };

beforeAll(async () => {
  const ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const key = generateTlsKey(hsm, uniqueLabel('gone-ec'), 'ECC_NIST_P256');
  ec = { keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) };
  control.set([`object_log=${log}`]);
});
afterAll(() => {
  control.set([]);
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const logLines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);

describe('a session the module says is closed already', () => {
  it('is not closed by the addon: it reconnects and the handshake signs on a new session', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [ec], sessionResumption: false }, (_req, res) => res.end('ok'));
    try {
      const port = await listen(server);
      const curl = () => run('curl', ['-sS', '--cacert', caFile, `https://localhost:${port}/`]);
      expect((await curl()).stdout).toBe('ok');
      const from = logLines().length;
      control.set([`object_log=${log}`, 'fault=C_Sign CKR_SESSION_HANDLE_INVALID count=1']);
      const stats = hsmTlsStats();
      expect((await curl()).stdout).toBe('ok');
      control.set([`object_log=${log}`]);
      const lines = logLines().slice(from);
      const signInits = lines.filter((l) => l.startsWith('C_SignInit ')).map((l) => l.split(' ')[1]!);
      expect(signInits).toHaveLength(2); // the failed attempt and the retry, on two sessions
      const [gone, fresh] = signInits;
      expect(fresh).not.toBe(gone);
      expect(lines.filter((l) => l.startsWith('C_CloseSession ')).map((l) => l.split(' ')[1])).not.toContain(gone);
      expect(hsmTlsStats().reconnects).toBe(stats.reconnects + 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
