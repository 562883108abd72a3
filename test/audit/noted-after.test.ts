/** What calls noted in their records after each chain's mark (src/audit/noted-after.ts): only later records, every node, segments before the mark skipped. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listSegments, openChainedAuditSink } from '../../src/audit/index.js';
import { notedAfter } from '../../src/audit/noted-after.js';
import { event } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-noted-after-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function write(nodeId: string, count: number, noted: (i: number) => boolean): Promise<void> {
  const sink = await openChainedAuditSink({ dir, nodeId, maxFileBytes: 1500 });
  for (let i = 1; i <= count; i++)
    await sink.record(event(i, noted(i) ? { eventName: 'HsmKms.IssueCertificate', additionalEventData: { issuedCertificate: { n: `${nodeId}:${i}` } } } : {}));
  await sink.close();
}

describe('notedAfter', () => {
  it('returns the member of the named records after each node’s mark, and where each chain ends', async () => {
    await write('a-w0', 20, (i) => i % 3 === 0);
    await write('b-w0', 5, (i) => i === 5);
    expect(listSegments(dir).get('a-w0')!.length).toBeGreaterThan(2);
    // A record naming the member under another call is not an issuance.
    const all = notedAfter(dir, new Map(), 'HsmKms.IssueCertificate', 'issuedCertificate');
    expect(all.values).toEqual([...[3, 6, 9, 12, 15, 18].map((i) => ({ n: `a-w0:${i}` })), { n: 'b-w0:5' }]);
    expect(all.ends).toEqual(new Map([['a-w0', 20], ['b-w0', 5]]));

    const later = notedAfter(dir, new Map([['a-w0', 12], ['b-w0', 5]]), 'HsmKms.IssueCertificate', 'issuedCertificate');
    expect(later.values).toEqual([{ n: 'a-w0:15' }, { n: 'a-w0:18' }]);
    expect(later.ends).toEqual(all.ends);

    // A segment wholly before the mark is not read: a copy of a later noted line put there is not seen.
    const segments = listSegments(dir).get('a-w0')!;
    const line = segments.flatMap((segment) => readFileSync(segment.path, 'utf8').split('\n')).find((l) => l.includes('"a-w0:18"'))!;
    expect(line).toContain('"sequence":18');
    writeFileSync(segments[0]!.path, `${line}\n`, { flag: 'a' });
    expect(notedAfter(dir, new Map([['a-w0', 12], ['b-w0', 5]]), 'HsmKms.IssueCertificate', 'issuedCertificate').values).toEqual([{ n: 'a-w0:15' }, { n: 'a-w0:18' }]);
    // Read from the start, the copy is there (it names its own chain and a later sequence).
    expect(notedAfter(dir, new Map([['b-w0', 5]]), 'HsmKms.IssueCertificate', 'issuedCertificate').values).toHaveLength(7);
  });
});
