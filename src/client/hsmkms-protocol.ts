/**
 * The `HsmKms.*` wire protocol as a client speaks it, free of Node and of the DOM so the CLI (over
 * node:http) and the web console (over fetch) share one implementation: awsJson1_1, SigV4 for
 * service `kms` with the AWS SDK's own signer, errors `{"__type","message"}` as {@link HsmKmsError}.
 * Each runtime supplies a SHA-256 and a way to POST.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import type { ChecksumConstructor, HashConstructor } from '@smithy/types';

export interface HsmKmsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
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

/** One signed POST to send; `url` is the endpoint, `path` the request path. */
export interface SignedRequest {
  url: URL;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Sends a signed request and answers with the status and the body as text. */
export type Transport = (request: SignedRequest) => Promise<{ status: number; text: string }>;

export interface HsmKmsCallerOptions {
  /** e.g. `http://127.0.0.1:7600` */
  endpoint: string;
  region: string;
  credentials: HsmKmsCredentials;
  sha256: ChecksumConstructor | HashConstructor;
  transport: Transport;
}

/** The awsJson1_1 media type. */
const AMZ_JSON = 'application/x-amz-json-1.1';

/** The JSON body of an answer, or the {@link HsmKmsError} an error answer stands for. */
export function readAnswer(status: number, text: string): Json {
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

export class HsmKmsCaller {
  private readonly url: URL;
  private readonly signer: SignatureV4;
  private readonly transport: Transport;

  constructor(options: HsmKmsCallerOptions) {
    this.url = new URL(options.endpoint);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`endpoint must be http(s)://…, got ${options.endpoint}`);
    this.signer = new SignatureV4({ credentials: options.credentials, region: options.region, service: 'kms', sha256: options.sha256 });
    this.transport = options.transport;
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
      headers: { host: this.url.host, 'content-type': AMZ_JSON, 'x-amz-target': `${namespace}.${operation}` },
      body,
    });
    const { status, text } = await this.transport({ url: this.url, path, headers: signed.headers, body });
    return readAnswer(status, text);
  }
}
