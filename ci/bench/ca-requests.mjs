// The `ca` section's two sides as requests, for the tools that study one of them in a server
// (cpu-profile.mjs, instructions.mjs): a P-384 CA made on the data directory before the server
// starts, then either issuance of P-256 leaves from 64 distinct CSRs (IssueCertificate) or KMS
// Sign (DIGEST, ECDSA_SHA_384) with the CA's issuing key (CaSign), as ci/bench/ca-issuance.mjs
// measures them.
import { execFileSync } from 'node:child_process';
import { createHash, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

export const CA_MODES = ['IssueCertificate', 'CaSign'];

/** `hsmkms ca init` of the CA 'bench' (ECC_NIST_P384) on `dataDir`, before the server starts. */
export function initBenchCa(root, dataDir) {
  execFileSync(
    process.execPath,
    [join(root, 'bin/hsmkms.js'), 'ca', 'init', '--data-dir', dataDir, '--name', 'bench', '--subject', 'CN=Bench Root,O=hsmkms bench,C=US', '--key-spec', 'ECC_NIST_P384', '--base-url', 'http://ca.bench.example'],
    { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

/**
 * The requests of `mode` against the server on 127.0.0.1:`port` over `dataDir`, as the account
 * root: each `{ body, sign }`, where `sign()` gives fresh SigV4 headers (Host included) for it.
 */
export async function caRequests({ dataDir, port, mode, csrs = 64 }) {
  const creds = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
  const signer = new SignatureV4({ service: 'kms', region: 'us-east-1', credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }, sha256: Sha256 });
  const request = (target, input) => {
    const body = JSON.stringify(input);
    const sign = async () => {
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        path: '/',
        headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
        body,
      });
      const { host, ...headers } = signed.headers;
      return { Host: host, ...headers };
    };
    return { body, sign };
  };
  const list = request('HsmKms.ListCertificateAuthorities', {});
  const listed = await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: await list.sign(), body: list.body })).json();
  const keyId = listed.CertificateAuthorities.find((a) => a.CaName === 'bench').IntermediateKeyArn;
  if (mode === 'CaSign') {
    const digest = createHash('sha384').update('bench').digest('base64');
    return [request('TrentService.Sign', { KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' })];
  }
  return (await benchCsrs(csrs)).map((Csr) => request('HsmKms.IssueCertificate', { CaName: 'bench', Csr, Profile: 'tls-server', ValidityDays: 30 }));
}

/** `count` distinct P-256 CSRs (PEM), `CN=leafN.bench.example` with that name as a DNS SAN, made in software. */
export async function benchCsrs(count) {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const out = [];
  for (let i = 0; i < count; i++) {
    const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
    const name = `leaf${i}.bench.example`;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create(
      { name: `CN=${name}`, keys, signingAlgorithm: algorithm, extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])] },
      webcrypto,
    );
    out.push(csr.toString('pem'));
  }
  return out;
}
