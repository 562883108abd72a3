/**
 * `audit verify` on a trail written by the real writer and signed by the run's SoftHSM2 token,
 * then tampered with line by line: each change, removal, reordering, insertion and append is
 * named, and so is each altered digest. The digest signature is also checked by openssl.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSignerOf, lineHash, openChainedAuditSink } from '../../src/audit/index.js';
import { verifyAuditTrail, type Finding, type VerifyReport } from '../../src/audit/verify.js';
import type { AuditSigner } from '../../src/core/ports.js';
import { testBackend } from '../support/kms-deps.js';
import { event } from './support.js';

const root = mkdtempSync(join(tmpdir(), 'hsmkms-audit-verify-'));
const pristine = join(root, 'pristine');
const FILE = 'host-w0.000000000001.jsonl';
let signer: AuditSigner;
let pem: string;
let n = 0;

afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  signer = auditSignerOf(await testBackend())!;
  pem = createPublicKey({ key: await signer.auditPublicKey(), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
  // 30 calls, a digest after every 10 (sequences 11, 22, 33), 33 lines.
  const sink = await openChainedAuditSink({ dir: pristine, nodeId: 'host-w0', signer, digestEveryRecords: 10 });
  for (let i = 1; i <= 30; i++) await sink.record(event(i));
  await sink.close();
});

/** A copy of the pristine trail with its single file's lines rewritten by `edit`. */
function tampered(edit: (lines: string[]) => string[]): string {
  const dir = join(root, `case${++n}`);
  cpSync(pristine, dir, { recursive: true });
  const lines = readFileSync(join(dir, FILE), 'utf8').trimEnd().split('\n');
  writeFileSync(join(dir, FILE), `${edit(lines).join('\n')}\n`);
  return dir;
}

function check(dir: string, keys: Array<string | Buffer> = [pem]): VerifyReport {
  return verifyAuditTrail({ dir, publicKeys: keys });
}

function problems(report: VerifyReport): Finding[] {
  return report.findings.filter((f) => f.severity === 'problem');
}

/** Line i (1-based) as an object, edited, and written back. */
function editLine(lines: string[], i: number, change: (doc: Record<string, unknown>) => void): string[] {
  const doc = JSON.parse(lines[i - 1]!) as Record<string, unknown>;
  change(doc);
  const out = [...lines];
  out[i - 1] = JSON.stringify(doc);
  return out;
}

describe('audit verify', () => {
  it('passes an intact trail, all of it signed', () => {
    const report = check(pristine);
    expect(report.ok).toBe(true);
    expect(report.findings).toEqual([]);
    expect(report.nodes).toEqual([
      expect.objectContaining({ nodeId: 'host-w0', files: 1, records: 30, digests: 3, firstSequence: 1, lastSequence: 33, signedThrough: 32 }),
    ]);
  });

  it('names a changed record', () => {
    const report = check(tampered((lines) => editLine(lines, 5, (doc) => (doc.eventName = 'Decrypt'))));
    expect(problems(report)).toEqual([expect.objectContaining({ kind: 'changed', sequence: 5, file: FILE, line: 5 })]);
    expect(problems(report)[0]!.message).toMatch(/record 5 .*was changed/);
  });

  it('names a record whose link was changed, and only it', () => {
    const report = check(tampered((lines) => editLine(lines, 7, (doc) => (doc.previousHash = 'f'.repeat(64)))));
    expect(problems(report)).toEqual([expect.objectContaining({ kind: 'changed', sequence: 7, line: 7 })]);
  });

  it('names a record changed beyond reading', () => {
    const report = check(tampered((lines) => lines.map((l, i) => (i === 8 ? l.slice(0, 40) : l))));
    expect(problems(report)).toEqual([expect.objectContaining({ kind: 'changed', sequence: 9 })]);
    expect(problems(report)[0]!.message).toMatch(/record 9 \(.*:9\) was changed beyond reading/);
  });

  it('names removed records', () => {
    const one = check(tampered((lines) => lines.filter((_, i) => i !== 11)));
    expect(problems(one)).toEqual([expect.objectContaining({ kind: 'removed', sequence: 12 })]);
    expect(problems(one)[0]!.message).toMatch(/^record 12 was removed \(between .*:11 and .*:12\)/);
    const three = check(tampered((lines) => lines.filter((_, i) => i < 12 || i > 14)));
    expect(problems(three)).toEqual([expect.objectContaining({ kind: 'removed', sequence: 13 })]);
    expect(problems(three)[0]!.message).toMatch(/^records 13–15 were removed/);
  });

  it('names records removed from the start of a file', () => {
    const report = check(tampered((lines) => lines.slice(2)));
    expect(problems(report)).toEqual([expect.objectContaining({ kind: 'removed', sequence: 1 })]);
    expect(problems(report)[0]!.message).toMatch(/^records 1–2 removed from the start/);
  });

  it('names reordered records', () => {
    const report = check(
      tampered((lines) => {
        const out = [...lines];
        [out[14], out[15]] = [out[15]!, out[14]!];
        return out;
      }),
    );
    expect(problems(report)).toEqual([expect.objectContaining({ kind: 'reordered', sequence: 16, line: 15 })]);
    expect(problems(report)[0]!.message).toMatch(/^records 15 and 16 are out of order/);
  });

  it('names an inserted record, however well forged', () => {
    // Forged to link to record 17 and take sequence 18: the real 18 still links to 17.
    const forged = (lines: string[]) => {
      const doc = JSON.parse(lines[4]!) as Record<string, unknown>;
      Object.assign(doc, { requestID: 'forged', sequence: 18, previousHash: lineHash(lines[16]!) });
      return [...lines.slice(0, 17), JSON.stringify(doc), ...lines.slice(17)];
    };
    expect(problems(check(tampered(forged)))).toEqual([expect.objectContaining({ kind: 'inserted', sequence: 18, line: 18 })]);
    // Forged carelessly: no link at all.
    const careless = (lines: string[]) => [...lines.slice(0, 3), JSON.stringify({ ...JSON.parse(lines[2]!), previousHash: 'a'.repeat(64), sequence: 40 }), ...lines.slice(3)];
    expect(problems(check(tampered(careless)))).toEqual([expect.objectContaining({ kind: 'inserted', line: 4, sequence: 40 })]);
    // A copy of a real line.
    expect(problems(check(tampered((lines) => [...lines.slice(0, 20), lines[5]!, ...lines.slice(20)])))).toEqual([
      expect.objectContaining({ kind: 'inserted', line: 21, sequence: 6 }),
    ]);
    // Not a record at all.
    expect(problems(check(tampered((lines) => [...lines.slice(0, 2), 'rm -rf /', ...lines.slice(2)])))).toEqual([
      expect.objectContaining({ kind: 'malformed', line: 3 }),
    ]);
  });

  it('names records appended out of chain', () => {
    const unlinked = check(tampered((lines) => [...lines, JSON.stringify({ ...JSON.parse(lines[3]!), sequence: 34, previousHash: 'b'.repeat(64) })]));
    expect(problems(unlinked)).toEqual([expect.objectContaining({ kind: 'appended', line: 34, sequence: 34 })]);
    const replayed = check(tampered((lines) => [...lines, JSON.stringify({ ...JSON.parse(lines[3]!), requestID: 'again' })]));
    expect(problems(replayed)).toEqual([expect.objectContaining({ kind: 'appended', line: 34, sequence: 4 })]);
  });

  it('names a changed digest: its range, its signature, or the chain rewritten beneath it', () => {
    const range = check(tampered((lines) => editLine(lines, 22, (doc) => (doc.digestStartSequence = 1))));
    expect(problems(range)).toContainEqual(expect.objectContaining({ kind: 'signature', sequence: 22 }));
    const signature = check(
      tampered((lines) => {
        const out = [...lines];
        out[10] = out[10]!.replace(/"signature":"(.)/, (_, c: string) => `"signature":"${c === 'A' ? 'B' : 'A'}`);
        return out;
      }),
    );
    expect(problems(signature)).toContainEqual(expect.objectContaining({ kind: 'signature', sequence: 11 }));
    expect(problems(signature).find((f) => f.kind === 'signature')!.message).toMatch(/digest 11 .*was changed: its signature does not verify/);
    // An attacker without the HSM recomputes every hash after changing record 5: the links hold, the next digest does not.
    const rewritten = check(
      tampered((lines) => {
        const out = editLine(lines, 5, (doc) => (doc.eventName = 'Decrypt'));
        for (let i = 5; i < out.length; i++) {
          const doc = JSON.parse(out[i]!) as Record<string, unknown>;
          doc.previousHash = lineHash(out[i - 1]!);
          out[i] = doc.signature ? out[i]!.replace(/"previousHash":"[0-9a-f]{64}"/, `"previousHash":"${lineHash(out[i - 1]!)}"`) : JSON.stringify(doc);
        }
        return out;
      }),
    );
    // Every digest after the change signed the original chain.
    expect(problems(rewritten).map((f) => [f.kind, f.sequence])).toEqual([
      ['signature', 11],
      ['signature', 22],
      ['signature', 33],
    ]);
    // A removed digest is a removed record.
    expect(problems(check(tampered((lines) => lines.filter((_, i) => i !== 21))))).toEqual([expect.objectContaining({ kind: 'removed', sequence: 22 })]);
  });

  it('reports a torn last line and an unsigned tail as notes, not problems', () => {
    const dir = tampered((lines) => lines.slice(0, 31));
    appendFileSync(join(dir, FILE), '{"eventVersion":"2.0","eventType":"AwsApi');
    const report = check(dir);
    expect(report.ok).toBe(true);
    expect(report.findings.map((f) => f.kind).sort()).toEqual(['torn-tail', 'unsigned']);
    expect(report.findings.find((f) => f.kind === 'torn-tail')!.message).toMatch(/ends with 41 bytes of a record whose write was cut short/);
    expect(report.findings.find((f) => f.kind === 'unsigned')!.message).toMatch(/^records 23–31 .*not yet signed/);
  });

  it('follows the chain from a torn file into the segment the restarted writer opened', async () => {
    const dir = join(root, 'restarted');
    let sink = await openChainedAuditSink({ dir, nodeId: 'host-w2', signer });
    for (let i = 1; i <= 3; i++) await sink.record(event(i));
    await sink.close();
    appendFileSync(join(dir, 'host-w2.000000000001.jsonl'), '{"eventVersion":"2.0","even');
    sink = await openChainedAuditSink({ dir, nodeId: 'host-w2', signer });
    await sink.record(event(4));
    await sink.close();
    const report = check(dir);
    expect(report.ok).toBe(true);
    expect(report.findings).toEqual([expect.objectContaining({ kind: 'torn-tail', message: expect.stringMatching(/the chain goes on in host-w2\.000000000005\.jsonl$/) })]);
    expect(report.nodes[0]).toMatchObject({ files: 2, records: 4, digests: 2, lastSequence: 6, signedThrough: 5 });
  });

  it('checks signatures only with the keys it is given', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const wrongKey = check(pristine, [other]);
    expect(problems(wrongKey).map((f) => f.kind)).toEqual(['signature', 'signature', 'signature']);
    expect(problems(wrongKey)[0]!.message).toMatch(/signed by a key that was not given/);
    const noKey = check(pristine, []);
    expect(noKey.ok).toBe(true);
    expect(noKey.findings).toEqual([expect.objectContaining({ severity: 'note', message: expect.stringMatching(/not checked: no public key/) })]);
    expect(() => check(pristine, [generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()])).toThrow(/P-384/);
  });

  it('openssl accepts a digest signature with the exported key', () => {
    const dir = join(root, 'openssl');
    const line = readFileSync(join(pristine, FILE), 'utf8').split('\n')[10]!;
    const m = /^(.*),"signature":"([A-Za-z0-9+/=]+)"}$/.exec(line)!;
    writeFileSync(join(root, 'pub.pem'), pem);
    writeFileSync(join(root, 'payload'), `${m[1]}}`);
    writeFileSync(join(root, 'sig.der'), Buffer.from(m[2]!, 'base64'));
    const out = execFileSync('openssl', ['dgst', '-sha384', '-verify', join(root, 'pub.pem'), '-signature', join(root, 'sig.der'), join(root, 'payload')], { encoding: 'utf8' });
    expect(out.trim()).toBe('Verified OK');
    writeFileSync(join(root, 'payload'), `${m[1]!.replace('"sequence":11', '"sequence":12')}}`);
    expect(() => execFileSync('openssl', ['dgst', '-sha384', '-verify', join(root, 'pub.pem'), '-signature', join(root, 'sig.der'), join(root, 'payload')], { stdio: 'pipe' })).toThrow();
    void dir;
  });

  it('checks a time window across rotated files, reading on to the digest that signs its end', async () => {
    const dir = join(root, 'rotated');
    const sink = await openChainedAuditSink({ dir, nodeId: 'host-w1', signer, digestEveryRecords: 1000, maxFileBytes: 4096 });
    for (let i = 1; i <= 60; i++) await sink.record(event(i, { requestParameters: { KeyId: 'alias/app', Description: 'x'.repeat(150) } }));
    await sink.close();
    const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    const whole = check(dir);
    expect(whole.ok).toBe(true);
    const window = verifyAuditTrail({ dir, publicKeys: [pem], from: event(25).eventTime, to: event(30).eventTime });
    expect(window.ok).toBe(true);
    expect(window.nodes[0]!.files).toBeLessThan(files.length);
    expect(window.nodes[0]!.firstSequence).toBeGreaterThan(1);
    expect(window.nodes[0]!.signedThrough).toBeGreaterThanOrEqual(30);
    expect(window.findings.map((f) => f.kind)).toEqual(['partial']);
  });
});
