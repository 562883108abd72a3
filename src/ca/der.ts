/**
 * The little DER this CA reads and writes by hand, where going through a full ASN.1 parse and
 * re-serialization would cost more than the rest of issuing a certificate: locating one element
 * of an encoding, and framing pre-encoded parts into a new one. Everything structured (names,
 * extensions, keys) is still encoded by @peculiar/x509.
 */

/** One element (tag, length, value) of a DER encoding. */
export interface DerElement {
  tag: number;
  /** Where the element (its tag) begins, where its value starts, and where it ends (exclusive), in the input. */
  offset: number;
  start: number;
  end: number;
}

function malformed(): Error {
  return new Error('malformed DER');
}

/**
 * The element at `offset` (single-byte tags only, definite lengths in their shortest form only,
 * as DER requires: a long form for a length under 128, or with a leading zero octet, is BER).
 */
export function readElement(der: Uint8Array, offset: number): DerElement {
  if (offset + 2 > der.length) throw malformed();
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed();
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || start + octets > der.length || der[start] === 0) throw malformed();
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    if (length < 0x80) throw malformed();
    start += octets;
  }
  const end = start + length;
  if (end > der.length) throw malformed();
  return { tag, offset, start, end };
}

/** The elements directly inside the constructed element `outer`. */
export function children(der: Uint8Array, outer: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = outer.start; offset < outer.end; ) {
    const element = readElement(der, offset);
    if (element.end > outer.end) throw malformed();
    out.push(element);
    offset = element.end;
  }
  return out;
}

/**
 * Throws unless `der` is exactly one element in DER as far as its framing goes, all the way
 * down: every length in its shortest form, constructed elements exactly filled by their
 * children, no constructed (BER) form of a universal type other than SEQUENCE and SET, INTEGERs
 * without redundant leading octets, BOOLEANs 00 or FF. Iterative, so nesting depth costs no stack.
 * Primitive contents (an OCTET STRING's, a BIT STRING's) are not looked into.
 */
export function checkDer(der: Uint8Array): void {
  const top = readElement(der, 0);
  if (top.end !== der.length) throw malformed();
  const pending: DerElement[] = [top];
  for (let node = pending.pop(); node; node = pending.pop()) {
    const { tag, start, end } = node;
    if (tag & 0x20) {
      // Universal class (bits 8-7 zero) constructed: only SEQUENCE (0x30) and SET (0x31) in DER.
      if ((tag & 0xc0) === 0 && tag !== 0x30 && tag !== 0x31) throw malformed();
      for (let offset = start; offset < end; ) {
        const child = readElement(der, offset);
        if (child.end > end) throw malformed();
        pending.push(child);
        offset = child.end;
      }
    } else if (tag === 0x02) {
      const length = end - start;
      if (length === 0) throw malformed();
      if (length > 1 && ((der[start] === 0 && der[start + 1]! < 0x80) || (der[start] === 0xff && der[start + 1]! >= 0x80))) throw malformed();
    } else if (tag === 0x01) {
      if (end - start !== 1 || (der[start] !== 0 && der[start] !== 0xff)) throw malformed();
    }
  }
}

/**
 * The subjectPublicKey bits of a SubjectPublicKeyInfo (SEQUENCE { AlgorithmIdentifier,
 * BIT STRING }), without the BIT STRING's unused-bits octet: what RFC 5280 §4.2.1.2 hashes.
 */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readElement(spki, 0);
  const fields = children(spki, outer);
  const [algorithm, bits] = fields;
  if (fields.length !== 2 || outer.tag !== 0x30 || algorithm?.tag !== 0x30 || bits?.tag !== 0x03 || bits.end - bits.start < 2 || spki[bits.start] !== 0) throw malformed();
  return spki.subarray(bits.start + 1, bits.end);
}

/** A DER element with `tag` around `parts` (each already DER). */
export function element(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  let octets = 0;
  if (length >= 0x80) for (let n = length; n > 0; n = Math.floor(n / 256)) octets++;
  const out = Buffer.allocUnsafe(2 + octets + length);
  out[0] = tag;
  if (octets === 0) out[1] = length;
  else {
    out[1] = 0x80 | octets;
    for (let i = octets, n = length; i > 0; i--, n = Math.floor(n / 256)) out[1 + i] = n & 0xff;
  }
  let offset = 2 + octets;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * `der` as PEM (RFC 7468: the label's BEGIN/END lines around 64-character base64 lines, no
 * newline after END), byte for byte what @peculiar/x509's PemConverter.encode writes, with one
 * base64 pass of node:buffer instead of its per-byte string building and `btoa`: a tenth of the
 * cost on an issuance's leaf.
 */
export function pem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < base64.length; i += 64) out += `${base64.slice(i, i + 64)}\n`;
  return `${out}-----END ${label}-----`;
}
