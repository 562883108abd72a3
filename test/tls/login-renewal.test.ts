/**
 * The TLS engine and the KMS backend share one PKCS#11 module in `hsmkms serve`, and so one login
 * (PKCS#11 logins belong to the application). When it is lost and the backend renews it, the
 * logout has destroyed the engine's private session objects too — its working copy of the server
 * key — yet the engine's session goes on answering, logged in again. An HSM that reuses handle
 * numbers may by then have given the copy's number to another object (a key the backend has just
 * reloaded), and a handshake would be signed with it. So the backend's end of epoch ends the
 * engine's handles (app.ts wires `onHandleEpochEnd` to `forgetTlsObjects`): tested through the
 * server createApp builds, in this process, as `hsmkms serve` runs it.
 *
 * SoftHSM2 never reuses a number, so the interposer's object log shows what was passed: no
 * C_SignInit after the renewal may name the copy made before it. The handshakes succeed, so
 * their signatures verified against the certificate's key.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HsmConfig } from '../../src/config/hsm.js';
import { createHsmHttpsServer, forgetTlsObjects, generateTlsKey, hsmTlsStats } from '../../src/tls/index.js';
import { interposerControl } from '../support/interposer.js';
import { startServer, type RunningServer } from '../support/server.js';
import { createTestCa, interposedTestHsm, listen, run, tokenSlot, uniqueLabel } from './support.js';

const control = interposerControl();
const hsm: HsmConfig = interposedTestHsm('softhsm2');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-relogin-'));
const caFile = join(dir, 'ca.pem');
const log = join(dir, 'objects.log');
let ec: { keyUri: string; cert: string };
let serve: RunningServer;

beforeAll(async () => {
  const ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const key = generateTlsKey(hsm, uniqueLabel('relogin-ec'), 'ECC_NIST_P256');
  ec = { keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) };
  serve = await startServer({ hsm: { modulePath: hsm.modulePath, profile: hsm.profile }, tls: ec });
  control.set([`object_log=${log}`]);
});
afterAll(async () => {
  await serve?.close();
  control.set([]);
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The object log's lines (none yet: no object has been passed since it was asked for). */
const logLines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
/** The object handles C_SignInit was given, from line `from` of the log on. */
const signInits = (from: number) =>
  logLines()
    .slice(from)
    .filter((line) => line.startsWith('C_SignInit '))
    .map((line) => line.split(' ')[2]!);
const logLength = () => logLines().length;

describe('a login lost and renewed by the backend', () => {
  it('ends the engine`s key handles: the next handshake of `hsmkms serve` signs with a key looked up again, never the old copy', async () => {
    const port = new URL(serve.endpoint).port;
    // Any answer will do: the handshake, signed in the token, is what is tested.
    const curl = () => run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, `https://localhost:${port}/`]);
    let from = logLength();
    expect((await curl()).stdout).toMatch(/^\d{3}$/);
    const before = signInits(from);
    expect(before).toHaveLength(1);
    const oldCopy = before[0];

    // Another user of the module logs the application out; the backend notices and logs in again.
    const { module, slot } = tokenSlot(hsm);
    const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    module.C_Logout(session);
    module.C_CloseSession(session);
    expect(await serve.app.backend.health()).toMatchObject({ ok: true });

    const stats = hsmTlsStats();
    from = logLength();
    expect((await curl()).stdout).toMatch(/^\d{3}$/);
    const after = signInits(from);
    expect(after).not.toContain(oldCopy);
    expect(after).toHaveLength(1); // the first attempt signed: no stale handle refused, no retry
    expect(hsmTlsStats().reconnects).toBe(stats.reconnects);
    expect(hsmTlsStats().signs).toBe(stats.signs + 1);
  });

  it('a key looked up while the login is still lost reconnects once and signs, rather than calling the key missing', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [ec], sessionResumption: false }, (_req, res) => res.end('ok'));
    try {
      const port = await listen(server);
      const curl = () => run('curl', ['-sS', '--cacert', caFile, `https://localhost:${port}/`]);
      expect((await curl()).stdout).toBe('ok');
      const { module, slot } = tokenSlot(hsm);
      const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      module.C_Logout(session);
      module.C_CloseSession(session);
      forgetTlsObjects(hsm.modulePath); // what the backend does when it sees the login lost, before it logs in
      const stats = hsmTlsStats();
      expect((await curl()).stdout).toBe('ok');
      expect(hsmTlsStats().reconnects).toBe(stats.reconnects + 1);
      expect(hsmTlsStats().signs).toBe(stats.signs + 1);
      expect(await serve.app.backend.health()).toMatchObject({ ok: true });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
