/**
 * RFC 7512 `pkcs11:` URIs, as used by OpenSSL, p11-kit and GnuTLS to name a token or an object:
 * `pkcs11:token=hsmkms;serial=…;object=…;id=%01%02;type=secret-key?module-path=/usr/lib/…&pin-source=file:/etc/pin`.
 *
 * The one parser and writer of these URIs in TypeScript (the CLI, the TLS offload). The native
 * addon reads key URIs with the same grammar in C++ (native/key-uri.cc); test/native/key-uri.test.ts
 * holds both to the vectors in test/native/pkcs11-uri-vectors.json.
 */
import { ConfigError, type HsmConfig, type PinSource } from '../../config/hsm.js';
import { detectProfile } from './profiles.js';

export type Pkcs11ObjectType = 'public' | 'private' | 'secret-key' | 'cert' | 'data';

/** The attributes hsmkms understands; others are kept in `other`. */
export interface Pkcs11Uri {
  token?: string;
  serial?: string;
  manufacturer?: string;
  model?: string;
  object?: string;
  /** CKA_ID as bytes. */
  id?: Buffer;
  type?: Pkcs11ObjectType;
  slotId?: number;
  modulePath?: string;
  /** A PIN source URI (`file:/path`, a plain path, or the hsmkms extension `env:NAME`). */
  pinSource?: string;
  /** Unrecognised path or query attributes, decoded. */
  other: Record<string, string>;
}

const TYPES: readonly Pkcs11ObjectType[] = ['public', 'private', 'secret-key', 'cert', 'data'];
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decode(raw: string, what: string): Buffer {
  if (!/^(?:[^%]|%[0-9a-fA-F]{2})*$/.test(raw)) throw new ConfigError(`Invalid percent-encoding in the pkcs11: URI attribute ${what}.`);
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '%') {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = raw.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes);
}

/**
 * Parses a `pkcs11:` URI. Throws ConfigError for anything that is not one, for duplicate
 * attributes, and for `pin-value` (a PIN inside a URI ends up in shell history and `ps`).
 */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(uri)) throw new ConfigError('A PKCS#11 URI starts with "pkcs11:" (RFC 7512).');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  const result: Pkcs11Uri = { other: {} };
  const seen = new Set<string>();
  const take = (part: string, separator: string) => {
    if (part === '') return;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`The pkcs11: URI attribute "${part.split(separator)[0]}" has no value.`);
    const name = part.slice(0, eq).toLowerCase();
    const raw = part.slice(eq + 1);
    if (seen.has(name)) throw new ConfigError(`The pkcs11: URI names ${name} twice.`);
    seen.add(name);
    if (name === 'pin-value')
      throw new ConfigError('The pkcs11: URI carries a PIN (pin-value); give the PIN through a PIN file or environment variable instead.');
    if (name === 'id') {
      result.id = decode(raw, name);
      return;
    }
    let value: string;
    try {
      value = UTF8.decode(decode(raw, name));
    } catch {
      throw new ConfigError(`The pkcs11: URI attribute ${name} is not UTF-8.`);
    }
    switch (name) {
      case 'token':
        result.token = value;
        break;
      case 'serial':
        result.serial = value;
        break;
      case 'manufacturer':
        result.manufacturer = value;
        break;
      case 'model':
        result.model = value;
        break;
      case 'object':
        result.object = value;
        break;
      case 'type':
        if (!TYPES.includes(value as Pkcs11ObjectType))
          throw new ConfigError(`The pkcs11: URI type must be one of ${TYPES.join(', ')}.`);
        result.type = value as Pkcs11ObjectType;
        break;
      case 'slot-id':
        if (!/^\d+$/.test(value)) throw new ConfigError('The pkcs11: URI slot-id must be a decimal number.');
        result.slotId = Number(value);
        break;
      case 'module-path':
        result.modulePath = value;
        break;
      case 'pin-source':
        result.pinSource = value;
        break;
      default:
        result.other[name] = value;
    }
  };
  for (const part of path.split(';')) take(part, ';');
  for (const part of query.split('&')) take(part, '&');
  return result;
}

/**
 * Writes a URI: path attributes in a fixed order (token, serial, manufacturer, model, object, id,
 * type, slot-id, then the rest), then module-path and pin-source as query attributes. Values are
 * percent-encoded outside RFC 3986's unreserved characters; `id` always, byte by byte.
 */
export function formatPkcs11Uri(u: Omit<Pkcs11Uri, 'other'> & { other?: Record<string, string> }): string {
  const path: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value !== undefined) path.push(`${name}=${encodeUriValue(value)}`);
  };
  add('token', u.token);
  add('serial', u.serial);
  add('manufacturer', u.manufacturer);
  add('model', u.model);
  add('object', u.object);
  if (u.id) path.push(`id=${Array.from(u.id, (b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  add('type', u.type);
  add('slot-id', u.slotId === undefined ? undefined : String(u.slotId));
  for (const [name, value] of Object.entries(u.other ?? {})) add(name, value);
  const query = [
    ...(u.modulePath !== undefined ? [`module-path=${encodeUriValue(u.modulePath, '/')}`] : []),
    ...(u.pinSource !== undefined ? [`pin-source=${encodeUriValue(u.pinSource, '/:')}`] : []),
  ];
  return `pkcs11:${path.join(';')}${query.length ? `?${query.join('&')}` : ''}`;
}

/** RFC 7512 percent-encoding of an attribute value: everything outside the unreserved set (and `keep`). */
export function encodeUriValue(value: string, keep = ''): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) || (byte < 0x80 && keep.includes(c)) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Turns an RFC 7512 pin-source into a PinSource (`file:` URI or path; `env:NAME` is ours). */
export function pinSourceFromUri(pinSource: string): PinSource {
  if (pinSource.startsWith('env:')) return { env: pinSource.slice(4) };
  if (pinSource.startsWith('file://')) return { file: new URL(pinSource).pathname };
  if (pinSource.startsWith('file:')) return { file: pinSource.slice(5) };
  if (pinSource.startsWith('/')) return { file: pinSource };
  throw new ConfigError('pin-source must be file:/absolute/path or env:VARIABLE.');
}

/**
 * The HSM configuration a `pkcs11:` URI describes. `module-path` and a token are required;
 * the PIN source may come from the URI or from `fallback`.
 */
export function hsmConfigFromUri(uri: string, fallback: { pin?: PinSource; profile?: HsmConfig['profile'] } = {}): HsmConfig {
  const u = parsePkcs11Uri(uri);
  if (!u.modulePath) throw new ConfigError('The pkcs11: URI needs module-path=/path/to/module.so.');
  if (!u.token && !u.serial) throw new ConfigError('The pkcs11: URI needs token=LABEL or serial=SERIAL.');
  const pin = u.pinSource ? pinSourceFromUri(u.pinSource) : fallback.pin;
  if (!pin) throw new ConfigError('No PIN source: add pin-source=file:/path to the URI or configure one.');
  return {
    modulePath: u.modulePath,
    token: { label: u.token, serial: u.serial },
    pin,
    profile: fallback.profile ?? detectProfile(u.modulePath),
  };
}
