/**
 * Where a CA publishes itself: one table of paths, used both to write URLs into certificates
 * (CRL distribution point, AIA caIssuers and OCSP) and to register the HTTP routes that serve
 * them, so the two cannot drift apart.
 */
import { CaError } from './errors.js';
import { callerText } from '../core/caller-text.js';

/** Route patterns under the server's root; `:name` is the CA's name. */
export const CA_PATHS = {
  /** Root then intermediate, PEM. */
  chain: '/ca/:name/ca.pem',
  /** DER certificates for AIA caIssuers (RFC 5280 §4.2.2.1 wants DER over HTTP). */
  rootCertificate: '/ca/:name/root.cer',
  intermediateCertificate: '/ca/:name/intermediate.cer',
  /** DER CRLs: the intermediate's (leaves) and the root's (the intermediate). */
  crl: '/ca/:name/crl',
  rootCrl: '/ca/:name/root.crl',
  /** RFC 6960 responder: POST here, or GET here + `/{base64 request}`. */
  ocsp: '/ca/:name/ocsp',
} as const;

/** CA names appear in URLs and tags: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
const CA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function requireCaName(name: string): string {
  if (!CA_NAME.test(name))
    throw new CaError('InvalidArgsException', `Invalid CA name '${callerText(name, 64)}': use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.`);
  return name;
}

/** The absolute URLs of one CA's published objects. */
export function caUrls(baseUrl: string, name: string): Record<keyof typeof CA_PATHS, string> {
  const out = {} as Record<keyof typeof CA_PATHS, string>;
  for (const [key, path] of Object.entries(CA_PATHS)) out[key as keyof typeof CA_PATHS] = `${baseUrl}${path.replace(':name', name)}`;
  return out;
}

/**
 * A base URL for CRL, AIA and OCSP: plain http (relying parties fetch these without TLS; they
 * are signed, and https would make revocation checking depend on itself), no query or
 * fragment, no trailing slash.
 */
export function normalizeBaseUrl(input: string): string {
  if (input.length > 512) throw new CaError('InvalidArgsException', '--base-url is longer than 512 characters.');
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CaError('InvalidArgsException', `--base-url '${input.slice(0, 200)}' is not a URL; give e.g. http://ca.example.internal:7600.`);
  }
  if (url.protocol !== 'http:')
    throw new CaError('InvalidArgsException', `--base-url must start with http:// (CRLs and OCSP responses are signed and fetched over plain HTTP), got '${input.slice(0, 200)}'.`);
  if (url.search || url.hash || url.username || url.password)
    throw new CaError('InvalidArgsException', '--base-url must not carry a query, a fragment or credentials.');
  let text = `${url.origin}${url.pathname}`;
  while (text.endsWith('/')) text = text.slice(0, -1);
  return text;
}
