import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryAuditSink, openJsonlAuditSink, parseAuditRecord } from '../../src/audit/index.js';
import type { AuditEvent, Logger } from '../../src/core/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `run${++n}`, 'audit.log');

function event(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    eventTime: new Date(1_790_000_000_000 + i),
    eventName: 'Encrypt',
    requestId: `req-${i}`,
    principalArn: 'arn:aws:iam::111122223333:user/app',
    resources: ['arn:aws:kms:us-east-1:111122223333:key/k'],
    requestParameters: { KeyId: 'alias/app' },
    ...extra,
  };
}

function readEvents(path: string): AuditEvent[] {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map(parseAuditRecord);
}

describe('JSON-lines audit sink', () => {
  it('creates the file 0600 in a 0700 directory and writes one parseable line per event', async () => {
    const path = freshPath();
    const previous = process.umask(0o022);
    let sink;
    try {
      sink = openJsonlAuditSink({ path });
    } finally {
      process.umask(previous);
    }
    sink.record(event(1));
    sink.record(event(2, { errorCode: 'NotFoundException', errorMessage: 'Key not found' }));
    await sink.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect(readEvents(path)).toStrictEqual([event(1), event(2, { errorCode: 'NotFoundException', errorMessage: 'Key not found' })]);
  });

  it('buffers many events without waiting and writes every one on close', async () => {
    const path = freshPath();
    const sink = openJsonlAuditSink({ path });
    for (let i = 0; i < 20_000; i++) sink.record(event(i));
    await sink.close();
    const events = readEvents(path);
    expect(events).toHaveLength(20_000);
    expect(events.map((e) => e.requestId)).toEqual(Array.from({ length: 20_000 }, (_, i) => `req-${i}`));
  });

  it('has everything recorded so far on disk after flush', async () => {
    const path = freshPath();
    const sink = openJsonlAuditSink({ path });
    for (let i = 0; i < 100; i++) sink.record(event(i));
    await sink.flush();
    expect(readEvents(path)).toHaveLength(100);
    await sink.close();
    await sink.flush();
  });

  it('appends to an existing trail instead of truncating it', async () => {
    const path = freshPath();
    const first = openJsonlAuditSink({ path });
    first.record(event(1));
    await first.close();
    const second = openJsonlAuditSink({ path });
    second.record(event(2));
    await second.close();
    expect(readEvents(path).map((e) => e.requestId)).toEqual(['req-1', 'req-2']);
  });

  it('never writes plaintext or secrets, even when the caller passes them', async () => {
    const path = freshPath();
    const sink = openJsonlAuditSink({ path });
    sink.record(
      event(1, {
        requestParameters: {
          KeyId: 'alias/app',
          Plaintext: 'TOP-SECRET-PLAINTEXT',
          SecretAccessKey: 'TOP-SECRET-ACCESS-KEY',
          EncryptedKeyMaterial: 'TOP-SECRET-MATERIAL',
          CiphertextBlob: 'TOP-SECRET-BLOB',
          inner: { Plaintext: 'TOP-SECRET-NESTED' },
        },
      }),
    );
    await sink.close();
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('TOP-SECRET');
    expect(text).toContain('alias/app');
  });

  it('starts a new file on reopen after rotation, losing nothing in between', async () => {
    const path = freshPath();
    const sink = openJsonlAuditSink({ path });
    for (let i = 0; i < 1_000; i++) sink.record(event(i));
    renameSync(path, `${path}.1`);
    const reopening = sink.reopen();
    sink.record(event(1_000));
    await reopening;
    sink.record(event(1_001));
    await sink.close();
    expect(readEvents(`${path}.1`).map((e) => e.requestId)).toEqual(Array.from({ length: 1_000 }, (_, i) => `req-${i}`));
    expect(readEvents(path).map((e) => e.requestId)).toEqual(['req-1000', 'req-1001']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expect(sink.reopen()).rejects.toThrow(/closed/);
  });

  it('refuses events after close', async () => {
    const sink = openJsonlAuditSink({ path: freshPath() });
    await sink.close();
    await sink.close();
    expect(() => sink.record(event(1))).toThrow(/closed/);
  });

  it('fails at open, not at the first request, when the file cannot be written', () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    expect(() => openJsonlAuditSink({ path: join(blocker, 'audit.log') })).toThrow();
  });

  it('refuses events instead of growing without bound when the disk falls behind', async () => {
    const sink = openJsonlAuditSink({ path: freshPath(), maxBufferedBytes: 1_000 });
    expect(() => {
      for (let i = 0; i < 1_000; i++) sink.record(event(i));
    }).toThrow(/not keeping up/);
    await sink.close();
  });

  it('warns when an existing audit file is readable by others', async () => {
    const path = join(dir, 'open.log');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const warnings: object[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (obj) => warnings.push(obj),
      error: () => undefined,
      child: () => logger,
    };
    const sink = openJsonlAuditSink({ path, logger });
    await sink.close();
    expect(warnings).toEqual([expect.objectContaining({ mode: '644' })]);
  });
});

describe('in-memory audit sink', () => {
  it('holds what the file would hold, secrets dropped', () => {
    const sink = new MemoryAuditSink();
    sink.record(event(1, { requestParameters: { KeyId: 'k', Plaintext: 'secret' } }));
    sink.record(event(2));
    expect(sink.events).toHaveLength(2);
    expect(sink.forRequest('req-1')[0]?.requestParameters).toStrictEqual({ KeyId: 'k' });
  });
});
