/** One XKS proxy API request signed with @smithy/signature-v4 (service `kms-xks-proxy`), over real HTTP. */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface XksReply {
  status: number;
  json: Record<string, unknown>;
}

export async function signedXksPost(
  endpoint: string,
  prefix: string,
  path: string,
  body: unknown,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Promise<XksReply> {
  const target = new URL(`${endpoint}/${prefix}/kms/xks/v1/${path}`);
  const text = JSON.stringify(body);
  const signer = new SignatureV4({ credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey }, region: 'us-east-1', service: 'kms-xks-proxy', sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: target.hostname,
    port: Number(target.port),
    path: target.pathname,
    headers: { host: target.host, 'content-type': 'application/json' },
    body: text,
  });
  const response = await fetch(target, { method: 'POST', headers: signed.headers as Record<string, string>, body: text });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}
