/**
 * The TypeScript `pkcs11:` URI parser and the addon's (C++) key-URI parser read every URI of a
 * shared vector table the same way: what one refuses the other refuses, and what both accept
 * names the same token, serial, object, id and type.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatPkcs11Uri, parsePkcs11Uri } from '../../src/backend/pkcs11/uri.js';
import { loadAddon } from '../../src/native/addon.js';

interface Fields {
  token?: string;
  serial?: string;
  object?: string;
  id?: string;
  type?: string;
}
const { vectors } = JSON.parse(readFileSync(new URL('./pkcs11-uri-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ uri: string; parsed: Fields | 'error'; key: 'ok' | 'error' }>;
};

const fields = (u: { token?: string; serial?: string; object?: string; id?: Buffer; type?: string }): Fields =>
  Object.fromEntries(
    Object.entries({ token: u.token, serial: u.serial, object: u.object, id: u.id?.toString('hex'), type: u.type }).filter(([, v]) => v !== undefined),
  );

function typescript(uri: string): Fields | 'error' {
  try {
    return fields(parsePkcs11Uri(uri));
  } catch {
    return 'error';
  }
}

function native(uri: string): Fields | 'error' {
  try {
    return fields(loadAddon().parseKeyUri(uri));
  } catch (e) {
    expect((e as { code?: string }).code).toBe('ERR_PKCS11_URI');
    return 'error';
  }
}

describe('pkcs11: URI vectors', () => {
  it('are consistent: the key parser never accepts what the URI parser refuses', () => {
    for (const v of vectors) if (v.parsed === 'error') expect(v.key, v.uri).toBe('error');
  });

  for (const v of vectors) {
    it(`${JSON.stringify(v.uri)}: ${v.parsed === 'error' ? 'refused' : v.key === 'ok' ? 'a key' : 'not a key'}`, () => {
      expect(typescript(v.uri)).toEqual(v.parsed);
      expect(native(v.uri)).toEqual(v.key === 'ok' ? v.parsed : 'error');
    });
  }

  it('writes URIs both parsers read back', () => {
    const written = formatPkcs11Uri({ token: 'my token;1', object: 'ключ=1', id: Buffer.from([0, 1, 0xfe]), type: 'private' });
    const expected = { token: 'my token;1', object: 'ключ=1', id: '0001fe', type: 'private' };
    expect(typescript(written)).toEqual(expected);
    expect(native(written)).toEqual(expected);
  });
});
