import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSegments, lookupAuditEvents, lookupAuditEventsAsync, openChainedAuditSink, tailAuditEvents, type AuditEventFound } from '../../src/audit/index.js';
import { KmsError } from '../../src/core/errors.js';
import { event } from './support.js';

const dir = join(mkdtempSync(join(tmpdir(), 'hsmkms-audit-query-')), 'audit');
afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

beforeAll(async () => {
  // Two nodes, interleaved in time, each over several rotated files; every 7th call failed.
  const sinks = await Promise.all(['h-w0', 'h-w1'].map((nodeId) => openChainedAuditSink({ dir, nodeId, maxFileBytes: 4096 })));
  for (let i = 1; i <= 120; i++) {
    const failed = i % 7 === 0 ? { errorCode: 'AccessDeniedException', errorMessage: 'denied' } : {};
    const key = i % 2 === 0 ? 'arn:aws:kms:us-east-1:111122223333:key/even' : 'arn:aws:kms:us-east-1:111122223333:key/odd';
    await sinks[i % 2]!.record(event(i, { eventName: i % 3 === 0 ? 'Decrypt' : 'Encrypt', resources: [key], ...failed }));
  }
  await Promise.all(sinks.map((s) => s.close()));
});

describe('audit queries', () => {
  it('pages through every call of every node newest first, each once', () => {
    expect(listSegments(dir).get('h-w0')!.length).toBeGreaterThan(2);
    const seen: AuditEventFound[] = [];
    let marker: string | undefined;
    do {
      const page = lookupAuditEvents(dir, { maxResults: 50, marker });
      expect(page.events.length).toBeLessThanOrEqual(50);
      seen.push(...page.events);
      marker = page.nextMarker;
    } while (marker);
    expect(seen.map((e) => e.record.requestID)).toEqual(Array.from({ length: 120 }, (_, i) => `req-${120 - i}`));
  });

  it('filters by time, event name, key and error code', () => {
    const window = lookupAuditEvents(dir, { startTime: event(10).eventTime, endTime: event(19).eventTime });
    expect(window.events.map((e) => e.record.requestID)).toEqual(Array.from({ length: 10 }, (_, i) => `req-${19 - i}`));
    const denied = lookupAuditEvents(dir, { errorCode: 'AccessDeniedException', eventName: 'Encrypt' });
    expect(denied.events.map((e) => e.record.requestID)).toEqual(['req-119', 'req-112', 'req-98', 'req-91', 'req-77', 'req-70', 'req-56', 'req-49', 'req-35', 'req-28', 'req-14', 'req-7']);
    const byUser = lookupAuditEvents(dir, { principal: 'app', startTime: event(1).eventTime, endTime: event(3).eventTime });
    expect(byUser.events).toHaveLength(3);
    expect(lookupAuditEvents(dir, { principal: 'arn:aws:iam::111122223333:user/app', maxResults: 1 }).events).toHaveLength(1);
    expect(lookupAuditEvents(dir, { principal: 'ap' }).events).toHaveLength(0);
    expect(lookupAuditEvents(dir, { principal: '111122223333' }).events).toHaveLength(0);
    expect(lookupAuditEvents(dir, { key: 'arn:aws:kms:us-east-1:111122223333:key/odd' }).events.every((e) => e.nodeId === 'h-w1')).toBe(true);
    const even = lookupAuditEvents(dir, { key: 'even', maxResults: 5 });
    expect(even.events.every((e) => e.nodeId === 'h-w0')).toBe(true);
    expect(even.nextMarker).toBeDefined();
  });

  it('rejects a marker it did not make, and a page size outside 1–50', () => {
    expect(() => lookupAuditEvents(dir, { marker: 'eyJ2IjoxLCJsIjoia2V5cyJ9' })).toThrow(KmsError);
    expect(() => lookupAuditEvents(dir, { maxResults: 51 })).toThrow(RangeError);
  });

  it('tail gives the latest calls across nodes in time order', async () => {
    const got: string[] = [];
    await tailAuditEvents(dir, { last: 5, follow: false, onEvent: (e) => got.push(e.record.requestID) });
    expect(got).toEqual(['req-116', 'req-117', 'req-118', 'req-119', 'req-120']);
  });

  it('within a scan budget, answers short pages whose tokens resume where reading stopped', async () => {
    const full = lookupAuditEvents(dir, { eventName: 'Decrypt' }).events.map((e) => e.record.requestID);
    expect(full).toHaveLength(40);
    const segments = [...listSegments(dir).values()].reduce((n, s) => n + s.length, 0);
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    let short = 0;
    do {
      // One byte: one segment per call, as a trail far larger than the budget would give.
      const page = await lookupAuditEventsAsync(dir, { eventName: 'Decrypt', maxResults: 10, marker }, { maxBytes: 1 });
      seen.push(...page.events.map((e) => e.record.requestID));
      if (page.events.length < 10 && page.nextMarker) short++;
      marker = page.nextMarker;
      pages++;
    } while (marker && pages < 100);
    expect(seen).toEqual(full);
    expect(short).toBeGreaterThan(0);
    expect(pages).toBeLessThanOrEqual(segments + 1);
    // A deadline already past still reads one segment per call: paging always advances.
    const late = await lookupAuditEventsAsync(dir, { maxResults: 50 }, { deadline: 0 });
    expect(late.nextMarker).toBeDefined();
    expect(late.events.map((e) => e.record.requestID)[0]).toBe('req-120');
  });
});
