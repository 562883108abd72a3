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
import { describe, expect, it } from 'vitest';
import { createHsmHttpsServer, hsmTlsStats } from '../../src/tls/index.js';
import { interposedTlsFixture, listen, run } from './support.js';

const fixture = interposedTlsFixture('session-gone');
const { control, hsm, caFile, log, logLines } = fixture;

describe('a session the module says is closed already', () => {
  it('is not closed by the addon: it reconnects and the handshake signs on a new session', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [fixture.ec], sessionResumption: false }, (_req, res) => res.end('ok'));
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
