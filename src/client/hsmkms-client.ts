/**
 * A small signed client for hsmkms's own `X-Amz-Target` namespaces (`HsmKms.*`), speaking the
 * same protocol as the KMS API (see hsmkms-protocol.ts, which the web console shares), over
 * node:http. Used by the CLI's endpoint modes (`hsmkms quorum …`) and by tests; the KMS
 * operations themselves are best called with `@aws-sdk/client-kms`.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { HsmKmsCaller, type HsmKmsCredentials, type SignedRequest } from './hsmkms-protocol.js';

export { HsmKmsError, type HsmKmsCredentials } from './hsmkms-protocol.js';

export interface HsmKmsClientOptions {
  /** e.g. `http://127.0.0.1:7600` */
  endpoint: string;
  region: string;
  credentials: HsmKmsCredentials;
  /** Per request, default 30 s. */
  timeoutMs?: number;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256 and HMAC-SHA-256 for the signer, from node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

/** Largest response body read (the service's responses are small). */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

function post(timeoutMs: number, { url, path, headers, body }: SignedRequest): Promise<{ status: number; text: string }> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      { protocol: url.protocol, hostname: url.hostname, port: url.port, path, method: 'POST', headers, timeout: timeoutMs },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            response.destroy(new Error('response too large'));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

export class HsmKmsClient extends HsmKmsCaller {
  constructor(options: HsmKmsClientOptions) {
    const timeoutMs = options.timeoutMs ?? 30_000;
    super({ ...options, sha256: NodeSha256, transport: (request) => post(timeoutMs, request) });
  }
}

/** Credentials from the standard AWS environment variables, or an error saying which are missing. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): HsmKmsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the caller’s own credentials.');
  return env.AWS_SESSION_TOKEN ? { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN } : { accessKeyId, secretAccessKey };
}

/** The region from AWS_REGION / AWS_DEFAULT_REGION, else `fallback`. */
export function regionFromEnv(fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || fallback;
}
