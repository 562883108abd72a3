/**
 * AWS Signature Version 4 verification for requests signed in the `Authorization` header.
 *
 * Hand-written because it is the service's authentication boundary: every step follows the
 * published algorithm (canonical request → string to sign → derived key → HMAC) and is checked
 * against AWS's test suite and against the signer the AWS SDK uses (test/auth/sigv4.test.ts).
 * Failures carry AWS's exception names and wording so clients report them as AWS would.
 */
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { KmsError } from '../core/errors.js';

/** The only algorithm SigV4 header authentication defines. */
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** AWS accepts requests whose signing time is within this much of its own clock. */
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;

/** A request as it arrived on the wire: nothing re-serialised. */
export interface WireRequest {
  method: string;
  /** The request target exactly as on the request line: path and optional `?query`. */
  url: string;
  /** Node's `rawHeaders`: name, value, name, value … in arrival order, duplicates kept. */
  rawHeaders: readonly string[];
  /** The raw body bytes. */
  body: Uint8Array;
}

/** The parts of an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header. */
export interface ParsedAuthorization {
  accessKeyId: string;
  /** `YYYYMMDD` from the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  /** Lower-case header names, in the order the client listed them. */
  signedHeaders: string[];
  /** 64 lower-case hex characters. */
  signature: string;
}

const INVALID_SIGNATURE_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

const incomplete = (message: string) => new KmsError('IncompleteSignatureException', message);
const invalidSignature = (message: string) => new KmsError('InvalidSignatureException', message);

/**
 * Parses the Authorization header. Throws IncompleteSignatureException (AWS's name) when a
 * required component is missing or malformed.
 */
export function parseAuthorization(header: string): ParsedAuthorization {
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM)
    throw incomplete(`Authorization header requires the ${SIGV4_ALGORITHM} algorithm, not '${algorithm.slice(0, 40)}'.`);
  // Only three components matter; a later repetition of one replaces the earlier, others are ignored.
  let credential = '';
  let signedHeaderList = '';
  let signature = '';
  for (const part of trimmed.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name === 'Credential') credential = part.slice(eq + 1).trim();
    else if (name === 'SignedHeaders') signedHeaderList = part.slice(eq + 1).trim();
    else if (name === 'Signature') signature = part.slice(eq + 1).trim();
  }
  if (!credential || !signedHeaderList || !signature) {
    const given: Record<string, string> = { Credential: credential, SignedHeaders: signedHeaderList, Signature: signature };
    const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((name) => !given[name]);
    throw incomplete(missing.map((name) => `Authorization header requires '${name}' parameter.`).join(' '));
  }

  const scope = credential.split('/');
  const [accessKeyId, scopeDate, region, service, terminator] = scope;
  if (scope.length !== 5 || !accessKeyId || !scopeDate || !region || !service || terminator !== 'aws4_request')
    throw incomplete(
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential.slice(0, 200)}'`,
    );
  if (!/^[0-9a-f]{64}$/.test(signature)) throw invalidSignature(INVALID_SIGNATURE_MESSAGE);
  const signedHeaders = signedHeaderList.split(';').map((h) => h.trim().toLowerCase());
  if (signedHeaders.some((h) => h === '')) throw incomplete('SignedHeaders must be a semicolon-separated list of header names.');
  return { accessKeyId, scopeDate, region, service, signedHeaders, signature };
}

/** RFC 3986 percent-encoding of UTF-8 bytes; only unreserved characters stay literal. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The canonical URI. For every service but S3 AWS encodes the path it was sent once more, so
 * the path is taken as it arrived (already percent-encoded by the client) and encoded again,
 * segment by segment, after removing `.` and `..` segments.
 */
export function canonicalUri(path: string): string {
  const out: string[] = [];
  // split('/') yields an empty first segment for the leading '/', and an empty last one for a trailing '/'
  for (const segment of path.split('/').slice(1)) {
    if (segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(uriEncode(segment));
  }
  return `/${out.join('/')}`;
}

/** The canonical query string: each name and value decoded, re-encoded, then sorted. */
export function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([uriEncode(safeDecode(name)), uriEncode(safeDecode(value))]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** A header value that a whitespace collapse would change: a run of whitespace, or whitespace other than a space. */
const NEEDS_COLLAPSE = /\s\s|[^\S ]/;

/**
 * Canonical headers for the signed header names: values trimmed with inner runs of spaces
 * collapsed, repeated headers joined with commas in arrival order. Returns undefined for a
 * signed header the request does not carry.
 */
export function canonicalHeaders(rawHeaders: readonly string[], signedHeaders: readonly string[]): Map<string, string> {
  const wanted = new Set(signedHeaders);
  // Repeated headers are joined as they arrive: one string per name, no list per header.
  const result = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    if (!wanted.has(name)) continue;
    const trimmed = (rawHeaders[i + 1] ?? '').trim();
    // Only a run of whitespace or a whitespace character other than a space needs replacing.
    const value = NEEDS_COLLAPSE.test(trimmed) ? trimmed.replace(/\s+/g, ' ') : trimmed;
    const before = result.get(name);
    result.set(name, before === undefined ? value : `${before},${value}`);
  }
  return result;
}

/** One-shot `crypto.hash`: no Hash object per call (two per request). */
function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** The canonical request string, step 1 of the algorithm. */
export function canonicalRequest(request: WireRequest, signedHeaders: readonly string[]): string {
  const q = request.url.indexOf('?');
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const query = q < 0 ? '' : request.url.slice(q + 1);
  const headers = canonicalHeaders(request.rawHeaders, signedHeaders);
  let headerLines = '';
  for (const name of signedHeaders) headerLines += `${name}:${headers.get(name) ?? ''}\n`;
  return `${request.method.toUpperCase()}\n${canonicalUri(path)}\n${canonicalQuery(query)}\n${headerLines}\n${signedHeaders.join(';')}\n${sha256Hex(request.body)}`;
}

/** The signing key derived from the secret for one day, region and service. */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(date).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** Derived keys kept at most by one {@link cachedSigningKeys}; cleared wholesale when full. */
const DERIVED_KEY_CACHE_SIZE = 1024;

/**
 * {@link signingKey} for a request's scope, cached per access key, day, region and service: the
 * key changes once a day per access key, and deriving it is four HMACs per request otherwise.
 * A changed secret (a credential replaced under the same id) derives a new key.
 */
export function cachedSigningKeys(capacity = DERIVED_KEY_CACHE_SIZE): (auth: ParsedAuthorization, secretAccessKey: string) => Buffer {
  const derived = new Map<string, { secret: string; key: Buffer }>();
  return (auth, secret) => {
    const id = `${auth.accessKeyId}/${auth.scopeDate}/${auth.region}/${auth.service}`;
    const cached = derived.get(id);
    if (cached && cached.secret === secret) return cached.key;
    if (derived.size >= capacity) derived.clear();
    const key = signingKey(secret, auth.scopeDate, auth.region, auth.service);
    derived.set(id, { secret, key });
    return key;
  };
}

/** Step 2 of the algorithm: what the derived key signs. */
function stringToSign(request: WireRequest, auth: Pick<ParsedAuthorization, 'scopeDate' | 'region' | 'service' | 'signedHeaders'>, amzDate: string): string {
  const scope = `${auth.scopeDate}/${auth.region}/${auth.service}/aws4_request`;
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest(request, auth.signedHeaders))}`;
}

/** The hex signature of a request, given the signing time and scope. */
export function computeSignature(
  request: WireRequest,
  auth: Pick<ParsedAuthorization, 'scopeDate' | 'region' | 'service' | 'signedHeaders'>,
  amzDate: string,
  secretAccessKey: string,
  derivedKey?: Buffer,
): string {
  return createHmac('sha256', derivedKey ?? signingKey(secretAccessKey, auth.scopeDate, auth.region, auth.service))
    .update(stringToSign(request, auth, amzDate))
    .digest('hex');
}

/**
 * `20150830T123600Z` → Date; undefined when malformed. Every field must be in range: `Date.UTC`
 * would roll hour 46 or day 32 over into another day, so a signing time outside the skew
 * window could be made to look like one inside it.
 */
export function parseAmzDate(value: string): Date | undefined {
  // Checked field by field (no regular expression, no formatting back): once per request.
  if (value.length !== 16 || value.charCodeAt(8) !== 0x54 /* T */ || value.charCodeAt(15) !== 0x5a /* Z */) return undefined;
  const digits = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const d = value.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  };
  const y = digits(0, 4);
  const mo = digits(4, 6);
  const d = digits(6, 8);
  const h = digits(9, 11);
  const mi = digits(11, 13);
  const s = digits(13, 15);
  // Years below 100 are rejected as before: Date.UTC reads them as 19xx.
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  const daysInMonth = mo === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(mo) ? 30 : 31;
  if (d > daysInMonth) return undefined;
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** Date → `20150830T123600Z`. */
export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function headerValue(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

/** What the verifier needs to know about the deployment. */
export interface VerifyOptions {
  /** This deployment's region, or the pattern of the regions it accepts (the XKS proxy serves any). */
  region: string | RegExp;
  /** `kms` */
  service: string;
  now: Date;
  maxSkewMs?: number;
  /**
   * Lower-case names of headers that must be signed whenever the request carries them (besides
   * `host` and `x-amz-date`, which must always be). For awsJson services: `x-amz-target` and
   * `content-type`, which select the operation and how the body is read, so a captured
   * request cannot be replayed as another operation.
   */
  signedWhenPresent?: readonly string[];
}

/** `x-amz-target` → `X-Amz-Target`, as AWS names headers in its messages. */
function displayName(header: string): string {
  return header.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * Checks everything that can be checked before the secret is known: the header's shape, the
 * signing date, the clock skew and the credential scope. Returns the parsed header.
 */
export function precheckSigV4(request: WireRequest, options: VerifyOptions): { auth: ParsedAuthorization; amzDate: string } {
  const header = headerValue(request.rawHeaders, 'authorization');
  if (header === undefined || header.trim() === '')
    throw new KmsError('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
  const auth = parseAuthorization(header);

  const amzDate = headerValue(request.rawHeaders, 'x-amz-date')?.trim();
  let signedAt: Date | undefined;
  if (amzDate !== undefined) signedAt = parseAmzDate(amzDate);
  if (amzDate === undefined)
    throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  if (signedAt === undefined)
    throw incomplete(`Date must be in ISO-8601 'basic format'. Got '${amzDate.slice(0, 40)}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  if (!auth.signedHeaders.includes('host'))
    throw invalidSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  if (!auth.signedHeaders.includes('x-amz-date'))
    throw invalidSignature("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  for (const name of options.signedWhenPresent ?? [])
    if (!auth.signedHeaders.includes(name) && headerValue(request.rawHeaders, name) !== undefined)
      throw invalidSignature(`'${displayName(name)}' must be a 'SignedHeader' in the AWS Authorization.`);

  const maxSkew = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const minutes = Math.round(maxSkew / 60_000);
  const now = options.now;
  if (signedAt.getTime() < now.getTime() - maxSkew)
    throw invalidSignature(
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(now.getTime() - maxSkew))} (${formatAmzDate(now)} - ${minutes} min.)`,
    );
  if (signedAt.getTime() > now.getTime() + maxSkew)
    throw invalidSignature(
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(new Date(now.getTime() + maxSkew))} (${formatAmzDate(now)} + ${minutes} min.)`,
    );
  if (auth.scopeDate !== amzDate.slice(0, 8))
    throw invalidSignature(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  if (typeof options.region === 'string' ? auth.region !== options.region : !options.region.test(auth.region))
    throw invalidSignature(`Credential should be scoped to a valid region, not '${auth.region}'. `);
  if (auth.service !== options.service)
    throw invalidSignature(`Credential should be scoped to correct service: '${options.service}'. `);
  return { auth, amzDate };
}

/**
 * Compares the request's signature with the one computed from the secret, in constant time.
 * Throws InvalidSignatureException with AWS's wording on a mismatch. `derivedKey`, if given,
 * must be `signingKey(secretAccessKey, auth.scopeDate, auth.region, auth.service)` (callers
 * cache it: it changes once a day per access key).
 */
export function checkSignature(
  request: WireRequest,
  auth: ParsedAuthorization,
  amzDate: string,
  secretAccessKey: string,
  derivedKey?: Buffer,
): void {
  // The digest's bytes against the header's (hex checked by parseAuthorization): no hex round trip.
  const expected = createHmac('sha256', derivedKey ?? signingKey(secretAccessKey, auth.scopeDate, auth.region, auth.service))
    .update(stringToSign(request, auth, amzDate))
    .digest();
  const provided = Buffer.from(auth.signature, 'hex');
  if (expected.length !== provided.length || !timingSafeEqual(expected, provided))
    throw invalidSignature(INVALID_SIGNATURE_MESSAGE);
}

export { INVALID_SIGNATURE_MESSAGE };
