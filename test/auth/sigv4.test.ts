/**
 * SigV4 verification against AWS's published test suite (signatures transcribed by hand from
 * the aws-sig-v4-test-suite: AKIDEXAMPLE, 20150830T123600Z, us-east-1, service `service`) and
 * against @smithy/signature-v4, the signer the AWS SDK uses, for random requests.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  cachedSigningKeys,
  canonicalRequest,
  checkSignature,
  computeSignature,
  parseAmzDate,
  parseAuthorization,
  precheckSigV4,
  signingKey,
  type WireRequest,
} from '../../src/auth/sigv4.js';
import { KmsError } from '../../src/core/errors.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const DATE = '20150830T123600Z';
const NOW = new Date('2015-08-30T12:36:00Z');
const SCOPE = 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request';

interface Vector {
  name: string;
  method: string;
  url: string;
  headers: [string, string][];
  body?: string;
  signedHeaders: string;
  signature: string;
}

const host: [string, string] = ['Host', 'example.amazonaws.com'];
const date: [string, string] = ['X-Amz-Date', DATE];

const VECTORS: Vector[] = [
  {
    name: 'get-vanilla',
    method: 'GET',
    url: '/',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
  {
    name: 'post-vanilla',
    method: 'POST',
    url: '/',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
  },
  {
    name: 'get-vanilla-query-order-key-case',
    method: 'GET',
    url: '/?Param2=value2&Param1=value1',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
  },
  {
    name: 'post-vanilla-query',
    method: 'POST',
    url: '/?Param1=value1',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11',
  },
  {
    name: 'post-x-www-form-urlencoded',
    method: 'POST',
    url: '/',
    headers: [['Content-Type', 'application/x-www-form-urlencoded'], host, date],
    body: 'Param1=value1',
    signedHeaders: 'content-type;host;x-amz-date',
    signature: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
  },
  {
    name: 'post-x-www-form-urlencoded-parameters',
    method: 'POST',
    url: '/',
    headers: [['Content-Type', 'application/x-www-form-urlencoded; charset=utf8'], host, date],
    body: 'Param1=value1',
    signedHeaders: 'content-type;host;x-amz-date',
    signature: '1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe',
  },
  {
    name: 'post-header-key-sort',
    method: 'POST',
    url: '/',
    headers: [host, ['My-Header1', 'value1'], date],
    signedHeaders: 'host;my-header1;x-amz-date',
    signature: 'c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c',
  },
  {
    name: 'post-header-value-case',
    method: 'POST',
    url: '/',
    headers: [host, ['My-Header1', 'VALUE1'], date],
    signedHeaders: 'host;my-header1;x-amz-date',
    signature: 'cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d',
  },
  {
    name: 'get-header-value-trim',
    method: 'GET',
    url: '/',
    headers: [host, ['My-Header1', ' value1'], ['My-Header2', ' "a   b   c"'], date],
    signedHeaders: 'host;my-header1;my-header2;x-amz-date',
    signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736',
  },
  {
    name: 'get-header-key-duplicate',
    method: 'GET',
    url: '/',
    headers: [host, ['My-Header1', 'value2'], ['My-Header1', 'value2'], ['My-Header1', 'value1'], date],
    signedHeaders: 'host;my-header1;x-amz-date',
    signature: 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea',
  },
  {
    name: 'get-header-value-order',
    method: 'GET',
    url: '/',
    headers: [host, ['My-Header1', 'value4'], ['My-Header1', 'value1'], ['My-Header1', 'value3'], ['My-Header1', 'value2'], date],
    signedHeaders: 'host;my-header1;x-amz-date',
    signature: '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01',
  },
  {
    name: 'get-unreserved',
    method: 'GET',
    url: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f',
  },
  {
    // A session token is signed like any header; hsmkms issues no temporary credentials and ignores its value.
    name: 'post-sts-header-before',
    method: 'POST',
    url: '/',
    headers: [
      host,
      date,
      [
        'X-Amz-Security-Token',
        'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==',
      ],
    ],
    signedHeaders: 'host;x-amz-date;x-amz-security-token',
    signature: '85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
  },
  {
    name: 'get-utf8',
    method: 'GET',
    url: '/ሴ',
    headers: [host, date],
    signedHeaders: 'host;x-amz-date',
    signature: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85',
  },
];

function wire(v: Pick<Vector, 'method' | 'url' | 'headers' | 'body'>, authorization?: string): WireRequest {
  const rawHeaders = v.headers.flat();
  if (authorization) rawHeaders.push('Authorization', authorization);
  return { method: v.method, url: v.url, rawHeaders, body: Buffer.from(v.body ?? '') };
}

function kmsCheck(request: WireRequest, now: Date, secret: string, region: string | RegExp = 'us-east-1', service = 'service'): void {
  const { auth, amzDate } = precheckSigV4(request, { region, service, now });
  checkSignature(request, auth, amzDate, secret);
}

function rejects(fn: () => void): KmsError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KmsError) return error;
    throw error;
  }
  throw new Error('expected a KmsError');
}

describe('SigV4 against the AWS test suite', () => {
  for (const v of VECTORS) {
    it(v.name, () => {
      const auth = { scopeDate: '20150830', region: 'us-east-1', service: 'service', signedHeaders: v.signedHeaders.split(';') };
      expect(computeSignature(wire(v), auth, DATE, SECRET)).toBe(v.signature);
      const header = `AWS4-HMAC-SHA256 Credential=${SCOPE}, SignedHeaders=${v.signedHeaders}, Signature=${v.signature}`;
      expect(() => kmsCheck(wire(v, header), NOW, SECRET)).not.toThrow();
      // One flipped bit anywhere in the signature, or a different secret, must fail.
      const flipped = v.signature.slice(0, -1) + (v.signature.endsWith('0') ? '1' : '0');
      const bad = `AWS4-HMAC-SHA256 Credential=${SCOPE}, SignedHeaders=${v.signedHeaders}, Signature=${flipped}`;
      expect(rejects(() => kmsCheck(wire(v, bad), NOW, SECRET)).type).toBe('InvalidSignatureException');
      expect(rejects(() => kmsCheck(wire(v, header), NOW, `${SECRET}x`)).type).toBe('InvalidSignatureException');
    });
  }

  it('builds the canonical request of get-header-value-trim exactly', () => {
    const v = VECTORS.find((x) => x.name === 'get-header-value-trim')!;
    expect(canonicalRequest(wire(v), v.signedHeaders.split(';'))).toBe(
      [
        'GET',
        '/',
        '',
        'host:example.amazonaws.com',
        'my-header1:value1',
        'my-header2:"a b c"',
        'x-amz-date:20150830T123600Z',
        '',
        'host;my-header1;my-header2;x-amz-date',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ].join('\n'),
    );
  });

  it('detects a body changed after signing', () => {
    const v = VECTORS.find((x) => x.name === 'post-x-www-form-urlencoded')!;
    const header = `AWS4-HMAC-SHA256 Credential=${SCOPE}, SignedHeaders=${v.signedHeaders}, Signature=${v.signature}`;
    const tampered = wire({ ...v, body: 'Param1=value2' }, header);
    expect(rejects(() => kmsCheck(tampered, NOW, SECRET)).message).toBe(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  });
});

describe('SigV4 checks before the signature', () => {
  const v = VECTORS[1]!;
  const header = (scope = SCOPE, signed = v.signedHeaders) =>
    `AWS4-HMAC-SHA256 Credential=${scope}, SignedHeaders=${signed}, Signature=${v.signature}`;

  it('rejects a missing Authorization header', () => {
    const e = rejects(() => kmsCheck(wire(v), NOW, SECRET));
    expect(e.type).toBe('MissingAuthenticationTokenException');
    expect(e.httpStatus).toBe(403);
  });

  it('rejects clock skew beyond five minutes either way, with AWS wording', () => {
    const late = new Date(NOW.getTime() + 5 * 60_000 + 1000);
    const expired = rejects(() => kmsCheck(wire(v, header()), late, SECRET));
    expect(expired.type).toBe('InvalidSignatureException');
    expect(expired.message).toBe('Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)');
    const early = new Date(NOW.getTime() - 5 * 60_000 - 1000);
    expect(rejects(() => kmsCheck(wire(v, header()), early, SECRET)).message).toMatch(
      /^Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \(20150830T123059Z \+ 5 min\.\)$/,
    );
    // Within the window still verifies.
    expect(() => kmsCheck(wire(v, header()), new Date(NOW.getTime() + 4 * 60_000), SECRET)).not.toThrow();
  });

  it('rejects the wrong region or service in the scope', () => {
    expect(rejects(() => kmsCheck(wire(v, header()), NOW, SECRET, 'eu-west-1')).message).toBe(
      "Credential should be scoped to a valid region, not 'us-east-1'. ",
    );
    expect(rejects(() => kmsCheck(wire(v, header()), NOW, SECRET, 'us-east-1', 'kms')).message).toBe(
      "Credential should be scoped to correct service: 'kms'. ",
    );
  });

  it('takes any region a pattern accepts (the XKS proxy), with the same refusal otherwise', () => {
    expect(() => kmsCheck(wire(v, header()), NOW, SECRET, /^us-[a-z]+-\d$/)).not.toThrow();
    expect(rejects(() => kmsCheck(wire(v, header()), NOW, SECRET, /^eu-[a-z]+-\d$/)).message).toBe(
      "Credential should be scoped to a valid region, not 'us-east-1'. ",
    );
  });

  it('derives the signing key once per access key, day, region and service, and again for a new secret', () => {
    const derive = cachedSigningKeys(2);
    const auth = parseAuthorization(header());
    const first = derive(auth, SECRET);
    expect(first).toStrictEqual(signingKey(SECRET, '20150830', 'us-east-1', 'service'));
    expect(derive(auth, SECRET)).toBe(first);
    expect(derive({ ...auth, region: 'eu-west-1' }, SECRET)).toStrictEqual(signingKey(SECRET, '20150830', 'eu-west-1', 'service'));
    const replaced = derive(auth, 'another secret');
    expect(replaced).toStrictEqual(signingKey('another secret', '20150830', 'us-east-1', 'service'));
    expect(derive(auth, 'another secret')).toBe(replaced);
    // Bounded: past its capacity (two) it starts again, and still derives correctly.
    derive({ ...auth, scopeDate: '20150831' }, SECRET);
    derive({ ...auth, scopeDate: '20150901' }, SECRET);
    expect(derive(auth, 'another secret')).not.toBe(replaced);
    expect(derive(auth, 'another secret')).toStrictEqual(replaced);
  });

  it('rejects malformed Authorization headers as IncompleteSignatureException', () => {
    expect(() => parseAuthorization('AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request')).toThrowError(/requires 'SignedHeaders'/);
    expect(rejects(() => parseAuthorization('Basic dXNlcjpwYXNz')).type).toBe('IncompleteSignatureException');
    expect(rejects(() => parseAuthorization(header('AKIDEXAMPLE/20150830/us-east-1'))).type).toBe('IncompleteSignatureException');
  });

  it('requires host and x-amz-date to be signed', () => {
    expect(rejects(() => kmsCheck(wire(v, header(SCOPE, 'x-amz-date')), NOW, SECRET)).type).toBe('InvalidSignatureException');
    expect(rejects(() => kmsCheck(wire(v, header(SCOPE, 'host')), NOW, SECRET)).type).toBe('InvalidSignatureException');
  });

  it('requires the signedWhenPresent headers to be signed when the request carries them', () => {
    const target: [string, string] = ['X-Amz-Target', 'TrentService.DisableKey'];
    const options = { region: 'us-east-1', service: 'service', now: NOW, signedWhenPresent: ['x-amz-target', 'content-type'] };
    const unsigned = rejects(() => precheckSigV4(wire({ ...v, headers: [...v.headers, target] }, header()), options));
    expect(unsigned.type).toBe('InvalidSignatureException');
    expect(unsigned.message).toBe("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.");
    const form = VECTORS.find((x) => x.name === 'post-x-www-form-urlencoded')!;
    const formUnsigned = rejects(() => precheckSigV4(wire(form, header(SCOPE, 'host;x-amz-date')), options));
    expect(formUnsigned.message).toBe("'Content-Type' must be a 'SignedHeader' in the AWS Authorization.");
    // Absent headers need not be signed; signed ones pass.
    expect(() => precheckSigV4(wire(v, header()), options)).not.toThrow();
    expect(() => precheckSigV4(wire(form, header(SCOPE, form.signedHeaders)), options)).not.toThrow();
  });

  it('refuses X-Amz-Date fields out of range instead of rolling them over', () => {
    expect(parseAmzDate('20150830T123600Z')).toEqual(NOW);
    // Hour 46 of 29 August would otherwise be 22:00 on the 30th.
    for (const bad of ['20150829T460000Z', '20150832T000000Z', '20150230T000000Z', '20151330T000000Z', '20150000T000000Z', '20150830T126000Z', '20150830T123660Z', '00990830T123600Z'])
      expect(parseAmzDate(bad), bad).toBeUndefined();
    expect(parseAmzDate('20160229T235959Z')).toEqual(new Date('2016-02-29T23:59:59Z'));
    const rolled = { ...v, headers: [host, ['X-Amz-Date', '20150829T363600Z'] as [string, string]] };
    const e = rejects(() => kmsCheck(wire(rolled, header('AKIDEXAMPLE/20150829/us-east-1/service/aws4_request')), NOW, SECRET));
    expect(e.type).toBe('IncompleteSignatureException');
    expect(e.message).toBe("Date must be in ISO-8601 'basic format'. Got '20150829T363600Z'. See http://en.wikipedia.org/wiki/ISO_8601");
  });

  it('reads X-Amz-Date exactly as a Date round trip would (every edge of every field)', () => {
    // The reference: parse with Date.UTC, accept only if it prints back as the same text.
    const reference = (value: string): Date | undefined => {
      const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
      if (!m) return undefined;
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
      return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '') === value ? date : undefined;
    };
    const values: string[] = ['', '20150830T123600', '20150830t123600Z', '20150830T123600z', '2015-08-30T12:36:00Z', '2015083OT123600Z', '+0150830T123600Z', ' 20150830T123600Z', '20150830T123600ZZ'];
    for (const year of ['0000', '0099', '0100', '1900', '1970', '2000', '2015', '2016', '2100', '2400', '9999'])
      for (const month of ['00', '01', '02', '04', '12', '13'])
        for (const day of ['00', '01', '28', '29', '30', '31', '32']) values.push(`${year}${month}${day}T000000Z`);
    for (const time of ['000000', '235959', '240000', '236000', '235960', '1a0000', '99999 ']) values.push(`20151231T${time}Z`);
    for (const value of values) expect(parseAmzDate(value), value).toEqual(reference(value));
  });
});

describe('SigV4 against the AWS SDK signer', () => {
  it('verifies 200 random requests signed by @smithy/signature-v4 and rejects them when altered', async () => {
    const secretAccessKey = randomBytes(30).toString('base64');
    const signer = new SignatureV4({
      credentials: { accessKeyId: 'AKIATESTTESTTEST', secretAccessKey },
      region: 'eu-central-1',
      service: 'kms',
      sha256: Sha256,
    });
    for (let i = 0; i < 200; i++) {
      const body = randomBytes(randomInt(0, 2048)).toString(i % 2 ? 'base64' : 'latin1');
      const headers: Record<string, string> = {
        host: `kms.example-${i}.test:${randomInt(1, 65535)}`,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'TrentService.Encrypt',
        'X-Custom-Header': `  a  ${randomBytes(4).toString('hex')}   b `,
      };
      const query: Record<string, string> = i % 3 === 0 ? { 'b key': 'v/1', a: 'x+y=z', Z: '' } : {};
      const signingDate = new Date(Date.UTC(2026, 0, 1, 0, 0, randomInt(0, 86_400)));
      const signed = await signer.sign({ method: 'POST', protocol: 'https:', hostname: 'kms.test', path: '/', query, headers, body }, { signingDate });
      const queryString = Object.entries(query)
        .map(([k, val]) => `${encodeURIComponent(k)}=${encodeURIComponent(val)}`)
        .join('&');
      const request: WireRequest = {
        method: 'POST',
        url: queryString ? `/?${queryString}` : '/',
        rawHeaders: Object.entries(signed.headers).flat(),
        body: Buffer.from(body, 'utf8'),
      };
      const { auth, amzDate } = precheckSigV4(request, { region: 'eu-central-1', service: 'kms', now: signingDate });
      expect(() => checkSignature(request, auth, amzDate, secretAccessKey)).not.toThrow();
      const altered = { ...request, body: Buffer.concat([request.body, Buffer.from(' ')]) };
      expect(() => checkSignature(altered, auth, amzDate, secretAccessKey)).toThrowError(/does not match/);
    }
  });
});
