// The headline ratios: hsmkms against the bare baseline (ci/bench/bare-server.mjs: node:http and
// one PKCS#11 call per request on the same token) with the SAME number of processes on both
// sides — `hsmkms serve --workers N` against the bare server as a node:cluster of N workers —
// for N = 1 and N = 2 (BENCH_PROCESSES). hsmkms runs as deployed: SigV4 verified, the caller a
// CryptoUser whose two identity policies with conditions are evaluated with a 10-statement key
// policy with conditions (the allowing statement last), the audit trail written and fsync'd
// before each answer, request logging at the default level (info). Rounds alternate ours, bare,
// ours, bare … so a neighbour's burst falls on both; each round's ratio is ours ÷ the bare run
// next to it, and the median of those ratios is reported with their range.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { KMSClient, CreateKeyCommand, EncryptCommand } from '@aws-sdk/client-kms';
import { identityPolicies, keyPolicy } from './authorization.mjs';

export const TARGETS = { Encrypt: 0.5, Decrypt: 0.45, GenerateDataKey: 0.45 };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Measures one process count. `h` carries run.mjs's helpers: start(args, env, pattern) → { stop },
 * once(label, url, requests) → req/s (one wrk run, every response checked 2xx), signedBy(signer).
 */
export async function processRatios(h, { processes, runs }) {
  const { root, work, tokenEnv } = h;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const barePort = port + 1;
  const ours = await h.start(
    [join(root, 'bin/hsmkms.js'), 'serve', '--data-dir', work, '--port', String(port), '--workers', String(processes), '--audit-node-id', `bench-core-${processes}`],
    {},
    /listening on/,
  );
  const bare = await h.start([join(root, 'ci/bench/bare-server.mjs'), String(barePort), String(processes)], tokenEnv, /ready/);
  try {
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const { HsmKmsClient } = await import(join(root, 'dist/client/hsmkms-client.js'));
    const admin = new HsmKmsClient({ endpoint, region, credentials: h.rootCredentials });
    const userName = `bench-app-${processes}-${randomBytes(4).toString('hex')}`;
    const created = await admin.call('CreatePrincipal', { UserName: userName });
    for (const p of identityPolicies) await admin.call('PutPrincipalPolicy', { UserName: userName, ...p });
    const credentials = { accessKeyId: created.AccessKeyId, secretAccessKey: created.SecretAccessKey };
    const rootKms = new KMSClient({ endpoint, region, credentials: h.rootCredentials });
    const appKms = new KMSClient({ endpoint, region, credentials });
    const keyId = (await rootKms.send(new CreateKeyCommand({ Policy: keyPolicy(created.Arn) }))).KeyMetadata.KeyId;
    const kb = randomBytes(1024);
    const context = { app: 'bench' };
    const blob = Buffer.from((await appKms.send(new EncryptCommand({ KeyId: keyId, Plaintext: kb, EncryptionContext: context }))).CiphertextBlob);
    rootKms.destroy();
    appKms.destroy();
    const asApp = h.signedBy(new SignatureV4({ service: 'kms', region, credentials, sha256: Sha256 }));

    const bareUrl = `http://127.0.0.1:${barePort}`;
    const bareReq = (path) => async () => [{ path, headers: { Host: `127.0.0.1:${barePort}` }, body: kb.toString('base64') }];
    const ops = [
      { op: 'Encrypt', label: 'Encrypt 1 KB', input: { KeyId: keyId, Plaintext: kb.toString('base64'), EncryptionContext: context }, bare: bareReq('/encrypt') },
      { op: 'Decrypt', label: 'Decrypt 1 KB', input: { CiphertextBlob: blob.toString('base64'), EncryptionContext: context }, bare: bareReq('/decrypt') },
      { op: 'GenerateDataKey', label: 'GenerateDataKey', input: { KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context }, bare: bareReq('/encrypt') },
    ];
    const rows = [];
    for (const o of ops) {
      const oursReq = async () => [await asApp(o.op, o.input, port)];
      // Unmeasured warm-up of both sides (JIT, caches, keep-alive connections).
      await h.once(`${o.label} warm-up`, endpoint, await oursReq(), 1);
      await h.once(`bare warm-up`, bareUrl, await o.bare(), 1);
      const r = { ours: [], bare: [], ratios: [] };
      for (let i = 0; i < runs; i++) {
        const a = await h.once(`hsmkms ${o.label} (${processes}p)`, endpoint, await oursReq());
        const b = await h.once(`bare ${o.bare === ops[1].bare ? 'decrypt' : 'encrypt'} (${processes}p)`, bareUrl, await o.bare());
        r.ours.push(a);
        r.bare.push(b);
        r.ratios.push(a / b);
      }
      rows.push({
        op: o.op,
        label: o.label,
        processes,
        ours: median(r.ours),
        bare: median(r.bare),
        ratio: median(r.ratios),
        low: Math.min(...r.ratios),
        high: Math.max(...r.ratios),
        target: TARGETS[o.op],
      });
    }
    return rows;
  } finally {
    await bare.stop();
    await ours.stop();
  }
}

/** The table run.mjs prints (and the README's table is made from). */
export function formatProcessRatios(rows, { runs, seconds }) {
  const lines = [
    `\nhsmkms vs bare node:http + 1 PKCS#11 call, same process count each side (wrk -t1 -c16, SoftHSM2; median of ${runs} interleaved rounds × ${seconds} s)`,
    'operation         processes   hsmkms req/s   bare req/s   ratio (range)        target',
  ];
  for (const r of rows)
    lines.push(
      `${r.label.padEnd(17)} ${`${r.processes} vs ${r.processes}`.padStart(9)} ${r.ours.toFixed(0).padStart(14)} ${r.bare.toFixed(0).padStart(12)}   ` +
        `${r.ratio.toFixed(2)} (${r.low.toFixed(2)}–${r.high.toFixed(2)})`.padEnd(21) +
        (r.target ? `≥ ${r.target} ${r.ratio >= r.target ? 'met' : 'NOT met'}` : ''),
    );
  return lines.join('\n');
}
