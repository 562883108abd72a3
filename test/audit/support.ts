/** Helpers for the audit trail tests: events, reading a node's chain back, a file system that fails on demand. */
import { readFileSync } from 'node:fs';
import { GENESIS_HASH, lineHash, listSegments, nodeFileSystem, parseLine, type AuditFile, type AuditFileSystem, type ParsedLine } from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/core/ports.js';

export function event(i: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    eventTime: new Date(1_790_000_000_000 + i * 1000),
    eventName: 'Encrypt',
    requestId: `req-${i}`,
    principalArn: 'arn:aws:iam::111122223333:user/app',
    resources: ['arn:aws:kms:us-east-1:111122223333:key/k'],
    requestParameters: { KeyId: 'alias/app' },
    ...extra,
  };
}

export interface ChainLine {
  file: string;
  text: string;
  parsed: ParsedLine;
}

/** Every line of a node's segments, in order; asserts nothing. */
export function readChain(dir: string, nodeId: string): ChainLine[] {
  const out: ChainLine[] = [];
  for (const segment of listSegments(dir).get(nodeId) ?? []) {
    const text = readFileSync(segment.path, 'utf8');
    // What follows the last newline is a torn write, not a record.
    for (const line of text.split('\n').slice(0, -1)) out.push({ file: segment.name, text: line, parsed: parseLine(line) });
  }
  return out;
}

/** Throws unless the lines form one unbroken chain from sequence `from` (genesis when 1). */
export function expectUnbroken(lines: ChainLine[], from = 1): void {
  let previous = from === 1 ? GENESIS_HASH : undefined;
  lines.forEach((line, i) => {
    if (line.parsed.link.sequence !== from + i) throw new Error(`line ${i} has sequence ${line.parsed.link.sequence}, expected ${from + i}`);
    if (previous !== undefined && line.parsed.link.previousHash !== previous) throw new Error(`line ${i} (sequence ${from + i}) does not link to the line before`);
    previous = lineHash(line.text);
  });
}

/**
 * The real file system, with writes that fail while `failing` is set (after writing `partial`
 * bytes of the batch), fdatasyncs that fail while `failingSync` is set, and fdatasyncs held while
 * `holdSyncs` is set (each waits for {@link releaseSyncs}).
 */
export class FlakyFileSystem implements AuditFileSystem {
  failing: NodeJS.ErrnoException | undefined;
  failingSync: NodeJS.ErrnoException | undefined;
  partial = 0;
  appends = 0;
  syncs = 0;
  /** fdatasyncs that have returned. */
  synced = 0;
  /** How each segment was opened: appends durable (O_DSYNC) or not. */
  appendsDurable: boolean[] = [];
  holdSyncs = false;
  private held: Array<() => void> = [];
  private onSync: Array<() => void> = [];

  /** Lets every held fdatasync go on (and those started later, until `holdSyncs` is set again). */
  releaseSyncs(): void {
    this.holdSyncs = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Resolves once `syncs` (fdatasyncs started) reaches `n`. */
  async syncStarted(n: number): Promise<void> {
    while (this.syncs < n) await new Promise<void>((r) => this.onSync.push(r));
  }

  async openForAppend(path: string, options?: { appendsDurable?: boolean }): Promise<{ file: AuditFile; size: number }> {
    this.appendsDurable.push(options?.appendsDurable !== false);
    const { file, size } = await nodeFileSystem.openForAppend(path, options);
    const flaky: AuditFile = {
      append: async (data) => {
        this.appends++;
        if (this.failing) {
          if (this.partial > 0) await file.append(data.subarray(0, Math.min(this.partial, data.length)));
          throw this.failing;
        }
        await file.append(data);
      },
      datasync: async () => {
        this.syncs++;
        for (const r of this.onSync.splice(0)) r();
        if (this.holdSyncs) await new Promise<void>((go) => this.held.push(go));
        if (this.failingSync) throw this.failingSync;
        await file.datasync();
        this.synced++;
      },
      truncate: (n) => (this.failing ? Promise.reject(this.failing) : file.truncate(n)),
      close: () => file.close(),
    };
    return { file: flaky, size };
  }

  syncDirectory(dir: string): Promise<void> {
    return nodeFileSystem.syncDirectory(dir);
  }
}

export function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}
