#!/usr/bin/env node
// Verify through the PKCS#11 backend alone (no HTTP, no store): token objects made and process CPU
// per call, for a key whose public key is warm, on a SoftHSM2 token of its own (made in a temp dir).
// Each checkout given (a directory with dist/, default this one; e.g. a copy of the build before a
// change) runs in its own process, rounds interleaved: a neighbour's burst then hits every side.
// Usage (after `npm run build`): node ci/bench/backend-verify.mjs [checkout …]
// Environment: VB_COUNT (calls measured, default 2000), VB_WARMUP (default 300), VB_ROUNDS (default 2),
// VB_SPECS (default ECC_NIST_P256,RSA_2048).
// Instructions instead of CPU (a measure shared load does not move): run one side under callgrind
// twice with different VB_COUNT and divide the difference of the totals by the difference of counts:
//   VB_CHILD=ECC_NIST_P256 VB_COUNT=100 valgrind --tool=callgrind node ci/bench/backend-verify.mjs <checkout>
// (VB_CHILD runs one measurement in this process, on the token labelled `backend-verify` that
// SOFTHSM2_CONF finds, with the user PIN in VB_PIN: make one with `softhsm2-util --init-token`).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = process.env.BENCH_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const COUNT = Number(process.env.VB_COUNT ?? 2000);
const WARMUP = Number(process.env.VB_WARMUP ?? 300);

/** One measurement in this process: checkout `root`, key spec `spec`. */
async function child(root, spec) {
  const { openPkcs11Backend } = await import(pathToFileURL(join(root, 'dist/backend/pkcs11/index.js')).href);
  const pin = { env: 'VB_PIN' };
  const backend = await openPkcs11Backend({ modulePath: MODULE, token: { label: 'backend-verify' }, pin, soPin: pin, profile: 'softhsm2', poolSize: 2 });
  try {
    const m = await backend.generateKeyMaterial(spec);
    const key = { id: 'backend-verify-1', keySpec: spec, wrapped: m.wrapped, publicKey: m.publicKey };
    const algorithm = spec.startsWith('RSA') ? 'RSASSA_PKCS1_V1_5_SHA_256' : 'ECDSA_SHA_256';
    const message = Buffer.from('message');
    const signature = await backend.sign(key, algorithm, message, 'RAW');
    const verify = async () => {
      if (!(await backend.verify(key, algorithm, message, 'RAW', signature))) throw new Error('the signature did not verify');
    };
    for (let i = 0; i < WARMUP; i++) await verify();
    const made = backend.stats().tokenObjectsMade;
    const cpu = process.cpuUsage();
    for (let i = 0; i < COUNT; i++) await verify();
    const used = process.cpuUsage(cpu);
    return { spec, objectsPerVerify: (backend.stats().tokenObjectsMade - made) / COUNT, cpuUsPerVerify: (used.user + used.system) / COUNT };
  } finally {
    await backend.close();
  }
}

if (process.env.VB_CHILD) {
  console.log(JSON.stringify(await child(resolve(process.argv[2] ?? here), process.env.VB_CHILD)));
} else {
  const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => resolve(r)) : [here];
  const specs = (process.env.VB_SPECS ?? 'ECC_NIST_P256,RSA_2048').split(',');
  const work = mkdtempSync(join(tmpdir(), 'hsmkms-backend-verify-'));
  try {
    mkdirSync(join(work, 'tokens'));
    const conf = join(work, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${join(work, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    const pin = randomBytes(8).toString('hex');
    const env = { ...process.env, SOFTHSM2_CONF: conf, VB_PIN: pin };
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'backend-verify', '--pin', pin, '--so-pin', pin], { env, stdio: 'ignore' });
    const results = new Map();
    for (let round = 0; round < Number(process.env.VB_ROUNDS ?? 2); round++)
      for (const spec of specs)
        for (const root of roots) {
          const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), root], { env: { ...env, VB_CHILD: spec }, encoding: 'utf8' });
          const r = JSON.parse(out.trim().split('\n').at(-1));
          const k = `${root} ${spec}`;
          results.set(k, [...(results.get(k) ?? []), r]);
        }
    for (const [k, rs] of results) {
      const cpu = rs.map((r) => r.cpuUsPerVerify).sort((a, b) => a - b);
      console.log(`${k}: ${rs[0].objectsPerVerify} token objects per Verify, CPU ${cpu.map((c) => c.toFixed(0)).join(' / ')} µs per Verify (median ${cpu[Math.floor(cpu.length / 2)].toFixed(0)}, ${rs.length} rounds of ${COUNT}, shared machine)`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
