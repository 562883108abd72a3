/**
 * The client side of the XKS proxy API: how hsmkms, as the KMS of an external key store, calls
 * any spec-conforming XKS proxy (hsmkms's own included). Requests are signed with SigV4 for
 * service `kms-xks-proxy` over `host;x-amz-date`, as AWS KMS signs them; every call is bounded in
 * time (AWS KMS gives a proxy 250 ms) and in the size of what it reads; every answer is checked
 * against the specification before anything uses it, and a ciphertextDataIntegrityValue is
 * always asked for and verified.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { computeSignature, formatAmzDate, type WireRequest } from '../auth/sigv4.js';
import {
  XksProxyCallError,
  type XksCallFailure,
  type XksCiphertext,
  type XksProxies,
  type XksProxyConnection,
  type XksRequestMetadata,
} from '../core/key-stores/ports.js';
import { isBase64 } from '../core/validation.js';

export interface HttpXksProxiesOptions {
  /** The region KMS signs with (the XKS credential scope). */
  region: string;
  /** Per call; AWS KMS's is 250 ms. */
  timeoutMs?: number;
  now?: () => Date;
}

/** Largest answer read from a proxy (a 4,300-byte ciphertext in base64 and the rest fit easily). */
const MAX_RESPONSE_BYTES = 64 * 1024;
const ERROR_NAMES: ReadonlySet<string> = new Set([
  'ValidationException',
  'InvalidStateException',
  'InvalidCiphertextException',
  'InvalidKeyUsageException',
  'AuthenticationFailedException',
  'AccessDeniedException',
  'KeyNotFoundException',
  'InvalidUriPathException',
  'ThrottlingException',
  'InternalException',
  'UnsupportedOperationException',
  'DependencyTimeoutException',
]);

export function createHttpXksProxies(options: HttpXksProxiesOptions): XksProxies {
  return {
    connect(proxy, credential) {
      return new HttpXksProxyConnection(proxy, credential, options);
    },
  };
}

class HttpXksProxyConnection implements XksProxyConnection {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly now: () => Date;

  constructor(
    proxy: { uriEndpoint: string; uriPath: string },
    private readonly credential: { accessKeyId: string; secretAccessKey: string },
    private readonly options: HttpXksProxiesOptions,
  ) {
    this.base = new URL(proxy.uriPath, proxy.uriEndpoint);
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.timeoutMs = options.timeoutMs ?? 250;
    this.now = options.now ?? (() => new Date());
  }

  async health(metadata: XksRequestMetadata): Promise<{ managers: number; available: number }> {
    const body = await this.call('health', { requestMetadata: pick(metadata, ['kmsOperation', 'kmsRequestId']) });
    const fleet = body.ekmFleetDetails;
    if (!Number.isInteger(body.xksProxyFleetSize) || (body.xksProxyFleetSize as number) < 1 || !Array.isArray(fleet) || fleet.length < 1 || fleet.length > 10)
      throw invalid('GetHealthStatus answered without a fleet size or 1–10 ekmFleetDetails.');
    const statuses = fleet.map((entry) => (entry && typeof entry === 'object' ? (entry as Record<string, unknown>).healthStatus : undefined));
    if (statuses.some((s) => s !== 'ACTIVE' && s !== 'DEGRADED' && s !== 'UNAVAILABLE')) throw invalid('GetHealthStatus answered an unknown healthStatus.');
    return { managers: fleet.length, available: statuses.filter((s) => s !== 'UNAVAILABLE').length };
  }

  async getKeyMetadata(xksKeyId: string, metadata: XksRequestMetadata): Promise<{ keySpec: string; keyUsage: string[]; keyStatus: string }> {
    const body = await this.call(`keys/${encodeURIComponent(xksKeyId)}/metadata`, { requestMetadata: pick(metadata, ['kmsOperation', 'kmsRequestId', 'awsPrincipalArn', 'kmsKeyArn']) });
    const { keySpec, keyUsage, keyStatus } = body;
    if (typeof keySpec !== 'string' || typeof keyStatus !== 'string' || !Array.isArray(keyUsage) || keyUsage.length > 10 || keyUsage.some((u) => typeof u !== 'string'))
      throw invalid('GetKeyMetadata answered without keySpec, keyUsage (at most 10) and keyStatus.');
    return { keySpec, keyUsage: keyUsage as string[], keyStatus };
  }

  async encrypt(xksKeyId: string, plaintext: Buffer, aad: Buffer, metadata: XksRequestMetadata): Promise<XksCiphertext> {
    const body = await this.call(`keys/${encodeURIComponent(xksKeyId)}/encrypt`, {
      requestMetadata: pick(metadata, ['kmsOperation', 'kmsRequestId', 'awsPrincipalArn', 'kmsKeyArn']),
      plaintext: plaintext.toString('base64'),
      additionalAuthenticatedData: aad.toString('base64'),
      encryptionAlgorithm: 'AES_GCM',
      ciphertextDataIntegrityValueAlgorithm: 'SHA_256',
    });
    const out: XksCiphertext = {
      ciphertext: bytes(body.ciphertext, 'ciphertext', [plaintext.length]),
      iv: bytes(body.initializationVector, 'initializationVector', [12, 16]),
      tag: bytes(body.authenticationTag, 'authenticationTag', [16]),
      ciphertextMetadata: body.ciphertextMetadata === undefined || body.ciphertextMetadata === null ? undefined : bytes(body.ciphertextMetadata, 'ciphertextMetadata', undefined, 20),
    };
    // As AWS KMS: the proxy's integrity value must be ours, or the ciphertext is not kept.
    const expected = createHash('sha256')
      .update(aad)
      .update(out.ciphertextMetadata ?? Buffer.alloc(0))
      .update(out.iv)
      .update(out.ciphertext)
      .update(out.tag)
      .digest('base64');
    if (body.ciphertextDataIntegrityValue !== expected) throw invalid('The ciphertextDataIntegrityValue does not match the ciphertext the proxy returned.');
    return out;
  }

  async decrypt(xksKeyId: string, ciphertext: XksCiphertext, aad: Buffer, metadata: XksRequestMetadata): Promise<Buffer> {
    const body = await this.call(`keys/${encodeURIComponent(xksKeyId)}/decrypt`, {
      requestMetadata: pick(metadata, ['kmsOperation', 'kmsRequestId', 'awsPrincipalArn', 'kmsKeyArn']),
      ciphertext: ciphertext.ciphertext.toString('base64'),
      ...(ciphertext.ciphertextMetadata ? { ciphertextMetadata: ciphertext.ciphertextMetadata.toString('base64') } : {}),
      initializationVector: ciphertext.iv.toString('base64'),
      authenticationTag: ciphertext.tag.toString('base64'),
      additionalAuthenticatedData: aad.toString('base64'),
      encryptionAlgorithm: 'AES_GCM',
    });
    return bytes(body.plaintext, 'plaintext', [ciphertext.ciphertext.length]);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  /** One signed POST; the answer's JSON object, or XksProxyCallError. */
  private call(operation: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}/${operation}`, this.base);
    const body = Buffer.from(JSON.stringify(payload));
    const amzDate = formatAmzDate(this.now());
    const headers: Record<string, string> = { host: url.host, 'x-amz-date': amzDate, 'content-type': 'application/json' };
    const wire: WireRequest = { method: 'POST', url: url.pathname, rawHeaders: Object.entries(headers).flat(), body };
    const scope = { scopeDate: amzDate.slice(0, 8), region: this.options.region, service: 'kms-xks-proxy', signedHeaders: ['host', 'x-amz-date'] };
    const signature = computeSignature(wire, scope, amzDate, this.credential.secretAccessKey);
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.credential.accessKeyId}/${scope.scopeDate}/${scope.region}/kms-xks-proxy/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`;
    headers['content-length'] = String(body.length);

    return new Promise((resolve, reject) => {
      const client = url.protocol === 'https:' ? https : http;
      const request = client.request(url, { method: 'POST', headers, agent: this.agent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) request.destroy(invalid(`The proxy answered more than ${MAX_RESPONSE_BYTES} bytes.`));
          else chunks.push(chunk);
        });
        response.on('end', () => {
          clearTimeout(timer);
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          const object = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
          if (response.statusCode === 200 && object) return resolve(object);
          const name = object?.errorName;
          if (response.statusCode !== 200 && typeof name === 'string' && ERROR_NAMES.has(name))
            return reject(new XksProxyCallError(name as XksCallFailure, `The proxy answered ${response.statusCode} ${name}.`));
          reject(invalid(`The proxy answered HTTP ${response.statusCode} without a readable XKS body.`));
        });
        response.on('error', (error) => reject(networkError(error)));
      });
      const timer = setTimeout(() => request.destroy(new XksProxyCallError('TIMED_OUT', `The proxy did not answer within ${this.timeoutMs} ms.`)), this.timeoutMs);
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(error instanceof XksProxyCallError ? error : networkError(error));
      });
      request.end(body);
    });
  }
}

function pick(metadata: XksRequestMetadata, fields: Array<keyof XksRequestMetadata>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) if (metadata[f] !== undefined) out[f] = metadata[f]!;
  return out;
}

function invalid(message: string): XksProxyCallError {
  return new XksProxyCallError('INVALID_RESPONSE', message);
}

/** A base64 field of an answer, with the lengths the specification allows. */
function bytes(value: unknown, field: string, lengths?: readonly number[], max = Infinity): Buffer {
  if (typeof value !== 'string' || value.length > MAX_RESPONSE_BYTES || !isBase64(value)) throw invalid(`The proxy's ${field} is not base64.`);
  const decoded = Buffer.from(value, 'base64');
  if ((lengths && !lengths.includes(decoded.length)) || decoded.length > max) throw invalid(`The proxy's ${field} has ${decoded.length} bytes.`);
  return decoded;
}

function networkError(error: Error & { code?: string }): XksProxyCallError {
  const code = error.code ?? '';
  if (/^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ERR_OSSL)/.test(code) || /certificate|SSL|TLS/i.test(error.message))
    return new XksProxyCallError('TLS', `A TLS connection to the proxy could not be made (${code || 'TLS error'}).`);
  return new XksProxyCallError('UNREACHABLE', `The proxy could not be reached (${code || error.message}).`);
}
