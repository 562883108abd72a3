/**
 * A small signed client for hsmkms's own `X-Amz-Target` namespaces (`HsmKms.*`), speaking the
 * same protocol as the KMS API: awsJson1_1, SigV4 for service `kms`, errors `{"__type","message"}`.
 * Used by the CLI's endpoint modes (`hsmkms quorum …`) and by tests; the KMS operations
 * themselves are best called with `@aws-sdk/client-kms`.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';

export interface HsmKmsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface HsmKmsClientOptions {
  /** e.g. `http://127.0.0.1:7600` */
  endpoint: string;
  region: string;
  credentials: HsmKmsCredentials;
  /** Per request, default 30 s. */
  timeoutMs?: number;
}

type Json = Record<string, unknown>;

/** A service error: `name` is the AWS exception name (`__type`), `fields` any other members. */
export class HsmKmsError extends Error {
  constructor(
    name: string,
    message: string,
    readonly status: number,
    readonly fields: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = name;
  }
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

export class HsmKmsClient {
  private readonly url: URL;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;

  constructor(options: HsmKmsClientOptions) {
    this.url = new URL(options.endpoint);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`endpoint must be http(s)://…, got ${options.endpoint}`);
    this.signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'kms', sha256: NodeSha256 });
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Calls `<namespace>.<operation>` (namespace `HsmKms` by default) and returns the parsed JSON
   * response; throws {@link HsmKmsError} for an error response.
   */
  async call(operation: string, input: Json = {}, namespace = 'HsmKms'): Promise<Json> {
    const body = JSON.stringify(input);
    const path = this.url.pathname === '' ? '/' : this.url.pathname;
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port === '' ? undefined : Number(this.url.port),
      path,
      query: {},
      headers: {
        host: this.url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `${namespace}.${operation}`,
      },
      body,
    });
    const { status, text } = await this.post(path, signed.headers, body);
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new HsmKmsError('SerializationException', `The service answered ${status} with a body that is not JSON.`, status, {});
    }
    const doc = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Json;
    if (status >= 400) {
      const { __type: type, message, Message, ...fields } = doc;
      const name = typeof type === 'string' ? type.slice(type.lastIndexOf('#') + 1) : `HTTP${status}`;
      throw new HsmKmsError(name, String(message ?? Message ?? `HTTP ${status}`), status, fields);
    }
    return doc;
  }

  private post(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        { protocol: this.url.protocol, hostname: this.url.hostname, port: this.url.port, path, method: 'POST', headers, timeout: this.timeoutMs },
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
      request.on('timeout', () => request.destroy(new Error(`no answer from ${this.url.origin} within ${this.timeoutMs} ms`)));
      request.on('error', reject);
      request.end(body);
    });
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
