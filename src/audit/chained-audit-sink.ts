/**
 * The audit trail writer: one node's hash chain (see audit-record.ts), written with group commit
 * and signed digests.
 *
 * Durable before visible (the default, `sync: 'before-answer'`): `record` resolves only once its
 * line has been written and fdatasync'd (on the real file system, one O_DSYNC write: see
 * audit-files.ts).
 * With `sync: 'background'` (`--audit-sync background`, opt-in) `record` resolves once its line is
 * in the file (the same batching, appends without O_DSYNC: a crash of the process keeps it, a
 * power loss may not), and one fdatasync at a time runs beside the appends: it starts when a
 * batch has been appended, or when the one before it ends, so a line is on disk within about two
 * fdatasync times of its answer. If the disk falls further behind, by `syncLagMs` (the oldest
 * line not yet on disk is that old), answers wait for the disk again, as in the default mode.
 * Records are batched: everything recorded while one write + fdatasync is in flight goes into the
 * next one (at most one write in flight, so under load a batch holds about one line per
 * concurrent request and each costs a fraction of one fsync). Lines are formatted, numbered and
 * chained when their batch starts, in the order `record` was called.
 *
 * Digests: after `digestEveryRecords` records or `digestEverySeconds` seconds (whichever comes
 * first, and only if something happened), when a segment is full, at start-up if the previous
 * run left records unsigned, and on close, a digest line signed in the HSM closes the range.
 * A digest due after a batch is signed while that batch is written and goes first in the next
 * one: the batch's callers do not wait for the HSM (only a segment's last digest, and the one on
 * close, are signed before their batch is written). A count-due digest closes its range at the
 * end of the batch in which the count was reached.
 *
 * Failures: a write or fsync that fails leaves the sink failed. The lines of that batch (and any
 * recorded later) stay in memory, in chain order; every `retryMs` the writer cuts the segment
 * back to its last durable size and writes them again. With `failure: 'closed'` (the default)
 * `accepting()` is false and `record` rejects while failed, so calls are refused; with `'open'`
 * calls go on and the lines wait in memory (up to `maxQueuedBytes`; beyond that events are
 * counted and logged as lost). A digest that cannot be signed (HSM down) is retried later and
 * never fails a call: the chain still holds, and the next digest covers the longer range.
 *
 * One writer per node: see node-lock.ts.
 */
import { createPublicKey, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AuditEvent, AuditSigner, AuditSink, Logger } from '../core/ports.js';
import { withDeadline } from '../core/deadline.js';
import {
  digestSignedText,
  formatCallLine,
  formatDigestLine,
  lineHash,
  NODE_ID_PATTERN,
  publicKeyFingerprint,
  type ChainLink,
} from './audit-record.js';
import { nodeFileSystem, PUBLIC_KEY_FILE, segmentFileName, type AuditFile, type AuditFileSystem } from './audit-files.js';
import { lockFirstFreeNode } from './node-lock.js';
import { readChainState } from './chain-state.js';

export type AuditFailureMode = 'closed' | 'open';
/** When `record` resolves: once its line is on disk (the default), or once it is in the file (see above). */
export type AuditSyncMode = 'before-answer' | 'background';

export interface ChainedAuditSinkOptions {
  /** The audit directory (created 0700 if missing). */
  dir: string;
  /**
   * This writer's chain: unique among processes writing `dir`, stable across restarts. Several:
   * the first no other live process writes is taken (see lockFirstFreeNode).
   */
  nodeId: string | readonly string[];
  /** Signs digests in the HSM; without one the chain is written unsigned (and a warning logged). */
  signer?: AuditSigner | undefined;
  failure?: AuditFailureMode;
  digestEveryRecords?: number;
  digestEverySeconds?: number;
  /** A segment at or past this size is closed (after a digest) and the chain goes on in a new one. */
  maxFileBytes?: number;
  /** While failed in `open` mode: lines kept in memory before events are dropped. */
  maxQueuedBytes?: number;
  retryMs?: number;
  /** A digest signature that takes longer is given up (and retried later). */
  signTimeoutMs?: number;
  logger?: Logger | undefined;
  clock?: () => Date;
  /** The file system; tests inject failures through it. */
  files?: AuditFileSystem;
  /** When `record` resolves (default 'before-answer'; see the top of this file). */
  sync?: AuditSyncMode;
  /** With `sync: 'background'`: how far the disk may fall behind the answers before they wait for it. */
  syncLagMs?: number;
}

export interface ChainedAuditSink extends AuditSink {
  readonly nodeId: string;
  readonly dir: string;
  /** Resolves once the event's line is durable; rejects (closed mode) when it cannot be written now. */
  record(event: AuditEvent): Promise<void>;
  /** False while failed in closed mode, or once closed. */
  accepting(): boolean;
  /** Resolves once everything recorded so far is durable (or the sink has failed). */
  flush(): Promise<void>;
  /** Writes a final digest, syncs, closes the segment and releases the node. */
  close(): Promise<void>;
  /** The chain's position: last sequence written or queued, records since the last digest. */
  status(): { sequence: number; sinceDigest: number; failure?: string | undefined };
}

export const AUDIT_DEFAULTS = {
  digestEveryRecords: 1000,
  digestEverySeconds: 60,
  maxFileBytes: 64 * 1024 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
  retryMs: 1000,
  signTimeoutMs: 10_000,
  syncLagMs: 1000,
} as const;

/** Back-off after a digest could not be signed. */
const DIGEST_RETRY_MS = 5000;

interface Waiter {
  event: AuditEvent;
  resolve?: () => void;
  reject?: (error: Error) => void;
}

/** Opens the node's chain, continuing it where the last run stopped. Throws if the directory cannot be used. */
export async function openChainedAuditSink(options: ChainedAuditSinkOptions): Promise<ChainedAuditSink> {
  const candidates = typeof options.nodeId === 'string' ? [options.nodeId] : options.nodeId;
  for (const id of candidates)
    if (!NODE_ID_PATTERN.test(id)) throw new Error(`audit node id '${id}' must be 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { nodeId, release: releaseLock } = lockFirstFreeNode(dir, candidates);
  try {
    const writer = new ChainWriter(dir, { ...options, nodeId }, releaseLock);
    await writer.start();
    return writer;
  } catch (error) {
    releaseLock();
    throw error;
  }
}

class ChainWriter implements ChainedAuditSink {
  readonly nodeId: string;
  private readonly mode: AuditFailureMode;
  private readonly everyRecords: number;
  private readonly maxFileBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly retryMs: number;
  private readonly signTimeoutMs: number;
  private readonly files: AuditFileSystem;
  private readonly log: Logger | undefined;
  private readonly now: () => Date;
  /** `sync: 'background'`: answers once appended, fdatasync beside the appends. */
  private readonly background: boolean;
  private readonly syncLagMs: number;

  // The chain.
  private sequence = 0;
  private head = '';
  private sinceDigest = 0;
  private rangeStart: { sequence: number; time: Date } | undefined;
  private lastTime: Date | undefined;
  private digestDue = false;
  private nextDigestAttempt = 0;
  /** A digest being signed beside a batch's write: its line, to go first in the next batch (undefined: it could not be signed). */
  private signing: Promise<{ line: string; time: Date } | undefined> | undefined;
  private fingerprint: string | undefined;

  // The file.
  private file: AuditFile | undefined;
  private filePath = '';
  private durableSize = 0;
  private mustTruncate = false;
  private nextRotateAttempt = 0;

  // The queue.
  private incoming: Waiter[] = [];
  /** Batches not known to be on disk, in order, from `durableSize` on. */
  private unsynced: Buffer[] = [];
  private unsyncedBytes = 0;
  /** Background sync: how many of `unsynced` (from the first) are in the file, and since when (ms). */
  private written = 0;
  private writtenAt: number[] = [];
  /** Background sync: the fdatasync loop, while it runs. */
  private syncing: Promise<void> | undefined;
  private failure: Error | undefined;
  private lost = 0;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private digestTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly options: ChainedAuditSinkOptions & { nodeId: string },
    private readonly releaseLock: () => void,
  ) {
    this.nodeId = options.nodeId;
    this.mode = options.failure ?? 'closed';
    this.everyRecords = options.digestEveryRecords ?? AUDIT_DEFAULTS.digestEveryRecords;
    this.maxFileBytes = options.maxFileBytes ?? AUDIT_DEFAULTS.maxFileBytes;
    this.maxQueuedBytes = options.maxQueuedBytes ?? AUDIT_DEFAULTS.maxQueuedBytes;
    this.retryMs = options.retryMs ?? AUDIT_DEFAULTS.retryMs;
    this.signTimeoutMs = options.signTimeoutMs ?? AUDIT_DEFAULTS.signTimeoutMs;
    this.files = options.files ?? nodeFileSystem;
    this.log = options.logger;
    this.now = options.clock ?? (() => new Date());
    this.background = options.sync === 'background';
    this.syncLagMs = options.syncLagMs ?? AUDIT_DEFAULTS.syncLagMs;
  }

  async start(): Promise<void> {
    const state = readChainState(this.dir, this.nodeId);
    this.sequence = state.lastSequence;
    this.head = state.head;
    this.sinceDigest = state.sinceDigest;
    this.rangeStart = state.rangeStart;
    this.lastTime = state.lastTime;
    // Records the last run left unsigned (a crash) are signed by the first digest of this one.
    this.digestDue = this.sinceDigest > 0;
    const { signer } = this.options;
    if (signer) {
      const spki = await signer.auditPublicKey();
      this.fingerprint = publicKeyFingerprint(spki);
      this.publishPublicKey(spki);
    } else {
      this.log?.warn({ dir: this.dir }, 'audit trail without a signing key: the chain is written but no digest is signed');
    }
    await this.openSegment(state.appendTo?.path ?? join(this.dir, segmentFileName(this.nodeId, this.sequence + 1)), state.appendTo === undefined);
    const seconds = this.options.digestEverySeconds ?? AUDIT_DEFAULTS.digestEverySeconds;
    this.digestTimer = setInterval(() => {
      if (this.sinceDigest === 0) return;
      this.digestDue = true;
      this.kick();
    }, seconds * 1000);
    this.digestTimer.unref();
    if (this.digestDue) this.kick();
  }

  record(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('audit trail is closed'));
    if (this.failure && this.unsyncedBytes > this.maxQueuedBytes) {
      this.noteLost();
      return this.mode === 'closed' ? Promise.reject(this.failure) : Promise.resolve();
    }
    if (this.failure) {
      // Kept for the retry, in chain order; the caller does not wait for it.
      this.incoming.push({ event });
      return this.mode === 'closed' ? Promise.reject(this.failure) : Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.incoming.push({ event, resolve, reject });
      this.kick();
    });
  }

  accepting(): boolean {
    return !this.closed && (this.mode === 'open' || this.failure === undefined);
  }

  get recordsDurably(): boolean {
    return this.mode === 'closed' && !this.background;
  }

  status(): { sequence: number; sinceDigest: number; failure?: string | undefined } {
    return { sequence: this.sequence, sinceDigest: this.sinceDigest, failure: this.failure?.message };
  }

  async flush(): Promise<void> {
    while (this.running || this.syncing) {
      await this.running;
      await this.syncing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.digestTimer);
    clearTimeout(this.retryTimer);
    await this.flush();
    this.closed = true;
    // One last attempt for anything kept after a failure, with the closing digest.
    if (this.sinceDigest > 0 || this.incoming.length > 0 || this.unsyncedBytes > 0) {
      this.digestDue = this.sinceDigest > 0 || this.incoming.length > 0;
      this.failure = undefined;
      this.nextDigestAttempt = 0;
      if (!(await this.commit())) this.log?.error({ dir: this.dir, nodeId: this.nodeId }, 'audit trail closed with records not written');
      await this.syncing;
    }
    await this.file?.close().catch(() => undefined);
    this.file = undefined;
    this.releaseLock();
  }

  // ───────────────────────── the commit loop ─────────────────────────

  private hasWork(): boolean {
    return this.incoming.length > 0 || this.unsynced.length > this.written || this.signing !== undefined || (this.digestDue && this.sinceDigest > 0);
  }

  /** Starts the commit loop on the next turn of the event loop, unless it runs or waits for a retry. */
  private kick(): void {
    if (this.running || this.closed || this.failure) return;
    this.running = new Promise<void>((done) => setImmediate(done))
      .then(() => this.drain())
      .finally(() => {
        this.running = undefined;
        if (this.hasWork() && !this.failure) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.hasWork() && !this.closed) {
      if (!(await this.commit())) {
        this.scheduleRetry();
        return;
      }
      await this.rotateIfFull();
    }
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.retry(), this.retryMs);
    this.retryTimer.unref();
  }

  private retry(): void {
    if (this.closed) return;
    // A background fdatasync failed while a batch was being appended: that batch's drain ends now.
    if (this.running) return void this.running.then(() => this.retry(), () => this.retry());
    this.running = this.drainAfterFailure().finally(() => {
      this.running = undefined;
      if (this.hasWork() && !this.failure) this.kick();
    });
  }

  private async drainAfterFailure(): Promise<void> {
    const failure = this.failure;
    this.failure = undefined;
    if (await this.commit()) {
      this.log?.info({ dir: this.dir, nodeId: this.nodeId, lost: this.lost }, 'audit trail writable again');
      this.lost = 0;
      return this.drain();
    }
    this.failure ??= failure;
    this.scheduleRetry();
  }

  /** One batch: format what came in (and a digest if due), write it with what a failure left, fdatasync. */
  private async commit(): Promise<boolean> {
    const lines: string[] = [];
    // The digest signed beside the last batch's write comes first: nothing was chained since it was started.
    if (this.signing) {
      const digest = await this.signing;
      this.signing = undefined;
      if (digest) this.chainDigest(lines, digest.line, digest.time);
    }
    const batch = this.incoming.splice(0);
    for (const item of batch) {
      lines.push(this.chain((link) => formatCallLine(item.event, link), item.event.eventTime));
      this.sinceDigest++;
    }
    // A segment about to be closed ends with a digest, so that every closed segment is signed.
    const full = this.durableSize + this.unsyncedBytes + byteLength(lines) >= this.maxFileBytes && Date.now() >= this.nextRotateAttempt;
    const due = this.digestDue || this.sinceDigest >= this.everyRecords;
    if (full || (due && this.closed)) await this.addDigest(lines);
    else if (due) this.signing = this.signDigest();
    if (lines.length > 0) {
      const bytes = Buffer.from(`${lines.join('\n')}\n`);
      this.unsynced.push(bytes);
      this.unsyncedBytes += bytes.length;
    }
    // What is not in the file yet: every batch not on disk, except in background mode those appended already.
    const unwritten = this.unsynced.length - this.written;
    const data = unwritten === 1 ? this.unsynced[this.written]! : Buffer.concat(this.unsynced.slice(this.written));
    try {
      const file = this.file!;
      if (this.mustTruncate) {
        // Not while an fdatasync is in flight: what it covers is kept, and the cut must come after it.
        await this.syncing;
        await file.truncate(this.durableSize);
        this.mustTruncate = false;
      }
      if (data.length > 0) {
        await file.append(data);
        if (!this.background) await file.datasync();
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)), batch);
      return false;
    }
    if (this.background) return this.answerOnceWritten(batch, unwritten);
    this.durableSize += data.length;
    this.unsynced = [];
    this.unsyncedBytes = 0;
    for (const item of batch) item.resolve?.();
    return true;
  }

  /**
   * Background sync: the batch's bytes (the last `appended` of `unsynced`) are in the file. Its
   * callers are answered now, unless the disk is `syncLagMs` behind: then once they are on disk.
   */
  private async answerOnceWritten(batch: Waiter[], appended: number): Promise<boolean> {
    if (this.failure) {
      // The fdatasync failed while this batch was appended: it goes again with the retry.
      this.fail(this.failure, batch);
      return false;
    }
    const now = Date.now();
    for (let i = 0; i < appended; i++) this.writtenAt.push(now);
    this.written = this.unsynced.length;
    const end = this.durableSize + this.unsyncedBytes;
    void this.syncWritten();
    if (now - this.writtenAt[0]! >= this.syncLagMs)
      while (this.durableSize < end) {
        await this.syncWritten();
        if (this.failure) {
          this.fail(this.failure, batch);
          return false;
        }
      }
    for (const item of batch) item.resolve?.();
    return true;
  }

  /** Background sync: fdatasyncs until everything appended is on disk; one at a time, beside the appends. */
  private syncWritten(): Promise<void> {
    this.syncing ??= (async () => {
      while (this.written > 0 && !this.failure) {
        const count = this.written;
        let bytes = 0;
        for (let i = 0; i < count; i++) bytes += this.unsynced[i]!.length;
        try {
          await this.file!.datasync();
        } catch (error) {
          this.fail(error instanceof Error ? error : new Error(String(error)), []);
          this.scheduleRetry();
          return;
        }
        // An append that failed meanwhile does not undo this: the bytes before it are on disk.
        this.durableSize += bytes;
        this.unsyncedBytes -= bytes;
        this.unsynced.splice(0, count);
        this.writtenAt.splice(0, count);
        this.written = Math.max(0, this.written - count);
      }
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private fail(error: Error, batch: Waiter[]): void {
    const first = this.failure === undefined;
    this.failure = error;
    // Whatever reached the file of this attempt was never acknowledged: cut it before the retry.
    // (In background mode, also what was answered but not yet on disk: it is written again.)
    this.mustTruncate = true;
    this.written = 0;
    this.writtenAt = [];
    if (first)
      this.log?.error(
        { dir: this.dir, nodeId: this.nodeId, err: error.message, mode: this.mode },
        this.mode === 'closed' ? 'audit trail cannot be written: refusing requests until it can' : 'audit trail cannot be written: serving without durable audit (fail-open)',
      );
    for (const item of batch) {
      if (this.mode === 'closed') item.reject?.(error);
      else item.resolve?.();
    }
  }

  private noteLost(): void {
    if (this.lost++ % 1000 === 0) this.log?.error({ dir: this.dir, nodeId: this.nodeId, lost: this.lost }, 'audit events dropped: the trail cannot be written and the memory queue is full');
  }

  /** Numbers and links one line. */
  private chain(format: (link: ChainLink) => string, time: Date): string {
    const line = format({ nodeId: this.nodeId, sequence: this.sequence + 1, previousHash: this.head });
    this.sequence++;
    this.head = lineHash(line);
    this.rangeStart ??= { sequence: this.sequence, time };
    this.lastTime = time;
    return line;
  }

  /** Appends a signed digest of the records since the last one, if there are any and it can be signed now. */
  private async addDigest(lines: string[]): Promise<void> {
    const digest = await this.signDigest();
    if (digest) this.chainDigest(lines, digest.line, digest.time);
  }

  /**
   * Signs a digest of the records since the last one, to be the next line of the chain (nothing
   * may be chained before it); undefined if there are none or it cannot be signed now.
   */
  private async signDigest(): Promise<{ line: string; time: Date } | undefined> {
    const { signer } = this.options;
    // Whatever happens below, this request for a digest is answered; the timer or the record count asks again.
    this.digestDue = false;
    if (this.sinceDigest === 0 || !this.rangeStart || !this.lastTime) return undefined;
    if (!signer || !this.fingerprint || Date.now() < this.nextDigestAttempt) return undefined;
    const eventTime = this.now();
    const signedText = digestSignedText({
      nodeId: this.nodeId,
      sequence: this.sequence + 1,
      previousHash: this.head,
      eventTime: eventTime.toISOString(),
      digestStartSequence: this.rangeStart.sequence,
      digestEndSequence: this.sequence,
      digestStartTime: this.rangeStart.time.toISOString(),
      digestEndTime: this.lastTime.toISOString(),
      publicKeyFingerprint: this.fingerprint,
    });
    let signature: Buffer;
    try {
      signature = await withDeadline(signer.signAuditDigest(Buffer.from(signedText)), Date.now() + this.signTimeoutMs, () => new Error(`no answer within ${this.signTimeoutMs} ms`));
    } catch (error) {
      this.nextDigestAttempt = Date.now() + DIGEST_RETRY_MS;
      this.log?.error({ dir: this.dir, nodeId: this.nodeId, err: String(error) }, 'audit digest could not be signed; retrying later');
      return undefined;
    }
    return { line: formatDigestLine(signedText, signature), time: eventTime };
  }

  private chainDigest(lines: string[], line: string, time: Date): void {
    lines.push(this.chain(() => line, time));
    this.sinceDigest = 0;
    this.rangeStart = undefined;
  }

  // ───────────────────────── segments ─────────────────────────

  private async openSegment(path: string, created: boolean): Promise<void> {
    const { file, size } = await this.files.openForAppend(path, { appendsDurable: !this.background });
    if (created) await this.files.syncDirectory(this.dir);
    this.file = file;
    this.filePath = path;
    this.durableSize = size;
  }

  /** A full segment (its digest already written by `commit`) makes way for a new one. */
  private async rotateIfFull(): Promise<void> {
    // Background sync: the full segment is closed once all of it is on disk.
    if (this.background && this.durableSize + this.unsyncedBytes >= this.maxFileBytes) await this.syncWritten();
    if (this.durableSize < this.maxFileBytes || this.unsyncedBytes > 0 || Date.now() < this.nextRotateAttempt) return;
    const previous = this.file;
    try {
      await this.openSegment(join(this.dir, segmentFileName(this.nodeId, this.sequence + 1)), true);
    } catch (error) {
      // The full segment still takes writes: keep it, and try again in a while.
      this.nextRotateAttempt = Date.now() + this.retryMs;
      this.log?.warn({ dir: this.dir, nodeId: this.nodeId, err: String(error) }, 'audit segment could not be rotated; continuing in the current one');
      return;
    }
    await previous?.close().catch(() => undefined);
  }

  /** Writes the verification key beside the trail (for convenience: verify with a copy kept elsewhere). */
  private publishPublicKey(spki: Buffer): void {
    const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
    const path = join(this.dir, PUBLIC_KEY_FILE);
    if (existsSync(path) && readFileSync(path, 'utf8') === pem) return;
    const temporary = `${path}.${randomUUID()}.tmp`;
    writeFileSync(temporary, pem, { mode: 0o644 });
    renameSync(temporary, path);
  }
}

function byteLength(lines: string[]): number {
  let n = 0;
  for (const line of lines) n += Buffer.byteLength(line) + 1;
  return n;
}

