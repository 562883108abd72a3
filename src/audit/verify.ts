/**
 * `hsmkms audit verify`: checks the audit trail offline — no HSM, only the files and the
 * exported verification key — and says where it was tampered with.
 *
 * Per node, every line is hashed and linked to the line whose hash its `previousHash` names.
 * Since each line names one predecessor, the links form a forest; from each root the chain is
 * followed (at a fork, the branch that continues the sequence and goes furthest) and compared
 * with the order of the lines in the files:
 * - a link that breaks where the sequence goes on means a record was changed (the one before the
 *   break, or the one after it if that one's own link breaks too);
 * - a break where the sequence jumps means records were removed;
 * - a link that goes backwards in the file means records were reordered;
 * - lines off the chain (a branch, or a root inside another chain's span, or a sequence that goes
 *   back) were inserted, or appended out of chain when they come last;
 * - a digest whose signature does not verify with the given key was changed (and with it, the
 *   claim it makes about every line before it).
 * Lines after the last valid digest are reported as not yet signed, and bytes after the last
 * newline of a file as a torn write (a crash): both are notes, not problems.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GENESIS_HASH, lineHash, parseLine, publicKeyFingerprint, type DigestRecord } from './audit-record.js';
import { fileSize, firstRecordTime, listSegments, splitLines, type Segment } from './audit-files.js';
import { runSteps, runStepsAsync, type Steps } from './steps.js';
import type { AuditNodeStatus } from '../core/audit-reading/port.js';

export type FindingKind =
  | 'changed'
  | 'removed'
  | 'reordered'
  | 'inserted'
  | 'appended'
  | 'malformed'
  | 'signature'
  | 'digest-range'
  | 'torn-tail'
  | 'unsigned'
  | 'partial';

export interface Finding {
  /** `problem`: the trail is not what was written. `note`: worth knowing, explained by normal operation. */
  severity: 'problem' | 'note';
  kind: FindingKind;
  nodeId: string;
  /** Where: file name and line number (from 1), and the record's sequence when it has one. */
  file?: string | undefined;
  line?: number | undefined;
  sequence?: number | undefined;
  message: string;
}

/** One node's chain as the verifier saw it (the core's reading port names the same shape). */
export type NodeSummary = AuditNodeStatus;

export interface VerifyReport {
  ok: boolean;
  nodes: NodeSummary[];
  findings: Finding[];
  /** Fingerprints of the keys signatures were checked with (none: signatures were not checked). */
  keys: string[];
}

export interface VerifyOptions {
  dir: string;
  /** Only files holding records from this time on… */
  from?: Date | undefined;
  /** …up to this time (files after it are read until the next digest, which signs the window's end). */
  to?: Date | undefined;
  /** PEM or DER SubjectPublicKeyInfo of audit keys. None: signatures are not checked (a note says so). */
  publicKeys?: Array<string | Buffer>;
  /** Refuse ({@link AuditRangeTooLarge}) rather than read more than this many bytes of files. */
  maxBytes?: number | undefined;
}

/** The files the range selects add up to more than `VerifyOptions.maxBytes`. */
export class AuditRangeTooLarge extends Error {
  override readonly name = 'AuditRangeTooLarge';
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`the selected audit files hold ${bytes} bytes, more than the ${limit} allowed`);
  }
}

/** One line of a node, in file order. */
interface Entry {
  index: number;
  file: string;
  line: number;
  hash: string;
  sequence: number;
  previousHash: string;
  time: number;
  digest?: { record: DigestRecord; signedText: string; signature: Buffer } | undefined;
  parent?: Entry | undefined;
  children: Entry[];
  depth: number;
  onPath: boolean;
}

interface BadLine {
  index: number;
  file: string;
  line: number;
  reason: string;
}

/** Verifies every node's chain in `options.dir`. Reads the files; never writes. */
export function verifyAuditTrail(options: VerifyOptions): VerifyReport {
  return runSteps(verifySteps(options));
}

/**
 * {@link verifyAuditTrail} for a server: gives the event loop a turn every few milliseconds, and
 * past `deadline` (epoch ms) stops with `onDeadline()`.
 */
export function verifyAuditTrailAsync(options: VerifyOptions, limits: { deadline?: number; onDeadline?: () => Error } = {}): Promise<VerifyReport> {
  return runStepsAsync(verifySteps(options), limits);
}

function* verifySteps(options: VerifyOptions): Steps<VerifyReport> {
  const keys = new Map<string, KeyObject>();
  for (const key of options.publicKeys ?? []) {
    const object = createPublicKey(typeof key === 'string' ? key : { key, format: 'der', type: 'spki' });
    if (object.asymmetricKeyType !== 'ec' || object.asymmetricKeyDetails?.namedCurve !== 'secp384r1')
      throw new Error('an audit verification key must be an EC P-384 public key');
    keys.set(publicKeyFingerprint(object.export({ type: 'spki', format: 'der' })), object);
  }
  const findings: Finding[] = [];
  const nodes: NodeSummary[] = [];
  const selections: Array<{ nodeId: string; selected: Segment[]; all: Segment[] }> = [];
  let bytes = 0;
  for (const [nodeId, segments] of listSegments(options.dir)) {
    const selected = select(segments, options);
    for (const segment of selected) bytes += fileSize(segment.path);
    selections.push({ nodeId, selected, all: segments });
  }
  if (options.maxBytes !== undefined && bytes > options.maxBytes) throw new AuditRangeTooLarge(bytes, options.maxBytes);
  for (const { nodeId, selected, all } of selections) {
    const summary = yield* new NodeCheck(nodeId, keys, findings).run(selected, all);
    if (summary) nodes.push(summary);
  }
  if (keys.size === 0 && nodes.some((n) => n.digests > 0))
    findings.push({ severity: 'note', kind: 'signature', nodeId: '*', message: 'digest signatures were not checked: no public key given' });
  return { ok: !findings.some((f) => f.severity === 'problem'), nodes, findings, keys: [...keys.keys()] };
}

/** The segments holding records in [from, to], plus those after it up to the first with a digest. */
function select(segments: Segment[], options: VerifyOptions): Segment[] {
  if (!options.from && !options.to) return segments;
  const starts = segments.map(firstRecordTime);
  let first = 0;
  if (options.from) while (first + 1 < segments.length && (starts[first + 1] ?? Infinity) <= options.from.getTime()) first++;
  let last = segments.length - 1;
  if (options.to) {
    last = first;
    while (last + 1 < segments.length && (starts[last + 1] ?? Infinity) <= options.to.getTime()) last++;
    // Reading on until a digest signs the window's end, within the byte limit if there is one.
    let bytes = 0;
    for (let i = first; i <= last; i++) bytes += fileSize(segments[i]!.path);
    while (last + 1 < segments.length && !readFileSync(segments[last]!.path, 'utf8').includes('"eventType":"HsmKmsAuditDigest"')) {
      bytes += fileSize(segments[last + 1]!.path);
      if (options.maxBytes !== undefined && bytes > options.maxBytes) break;
      last++;
    }
  }
  return segments.slice(first, last + 1);
}

class NodeCheck {
  private readonly entries: Entry[] = [];
  private readonly bad: BadLine[] = [];
  private readonly byHash = new Map<string, Entry>();
  private readonly explained = new Set<number>();
  private readonly firstSequenceOf = new Map<string, number>();
  private readonly branches: Array<{ lines: Entry[]; from: Entry }> = [];
  private position = 0;

  constructor(
    private readonly nodeId: string,
    private readonly keys: Map<string, KeyObject>,
    private readonly findings: Finding[],
  ) {}

  *run(selected: Segment[], all: Segment[]): Steps<NodeSummary | undefined> {
    if (selected.length === 0) return undefined;
    for (const [i, segment] of selected.entries()) yield* this.readSegment(segment, selected[i + 1]);
    const partial = selected[0] !== all[0];
    this.link();
    yield;
    const pieces = this.pieces();
    yield;
    this.checkPieces(pieces, partial);
    yield;
    const signedThrough = yield* this.checkDigests(pieces);
    this.reportMalformed();
    const first = pieces[0]?.[0];
    const lastPiece = pieces.at(-1);
    const last = lastPiece?.at(-1);
    if (partial && first)
      this.note('partial', `checked from record ${first.sequence} (${first.file}); earlier files were not selected`, first);
    return {
      nodeId: this.nodeId,
      files: selected.length,
      records: this.entries.filter((e) => !e.digest).length,
      digests: this.entries.filter((e) => e.digest).length,
      firstSequence: first?.sequence,
      lastSequence: last?.sequence,
      firstTime: first ? new Date(first.time).toISOString() : undefined,
      lastTime: last ? new Date(last.time).toISOString() : undefined,
      signedThrough,
    };
  }

  // ───────────────────────── reading ─────────────────────────

  private *readSegment(segment: Segment, next: Segment | undefined): Steps<void> {
    const buffer = readFileSync(segment.path);
    const { lines, tornTail } = splitLines(buffer);
    this.firstSequenceOf.set(segment.name, segment.firstSequence);
    let firstInFile = true;
    for (const span of lines) {
      if (span.number % 500 === 0) yield;
      const bytes = buffer.subarray(span.start, span.end);
      const index = this.position++;
      let parsed;
      try {
        parsed = parseLine(bytes.toString('utf8'));
      } catch (error) {
        this.bad.push({ index, file: segment.name, line: span.number, reason: (error as Error).message });
        continue;
      }
      if (parsed.link.nodeId !== this.nodeId) {
        this.bad.push({ index, file: segment.name, line: span.number, reason: `a record of node ${parsed.link.nodeId}, not ${this.nodeId}` });
        continue;
      }
      const entry: Entry = {
        index,
        file: segment.name,
        line: span.number,
        hash: lineHash(bytes),
        sequence: parsed.link.sequence,
        previousHash: parsed.link.previousHash,
        time: parsed.time.getTime(),
        digest: parsed.kind === 'digest' ? { record: parsed.digest, signedText: parsed.signedText, signature: parsed.signature } : undefined,
        children: [],
        depth: 1,
        onPath: false,
      };
      if (firstInFile && entry.sequence > segment.firstSequence)
        this.problem(
          'removed',
          `${range(segment.firstSequence, entry.sequence - 1)} removed from the start of ${segment.name} (its name says it starts at ${segment.firstSequence})`,
          entry,
          segment.firstSequence,
        );
      firstInFile = false;
      const twin = this.byHash.get(entry.hash);
      if (twin) {
        this.problem('inserted', `line ${span.number} of ${segment.name} repeats ${where(twin)} byte for byte (record ${entry.sequence}): inserted`, entry);
        continue;
      }
      this.byHash.set(entry.hash, entry);
      this.entries.push(entry);
    }
    if (tornTail)
      this.findings.push({
        severity: 'note',
        kind: 'torn-tail',
        nodeId: this.nodeId,
        file: segment.name,
        line: lines.length + 1,
        message:
          `${segment.name} ends with ${tornTail.length} bytes of a record whose write was cut short (a crash); it was never acknowledged and is not part of the chain` +
          (next ? `; the chain goes on in ${next.name}` : ''),
      });
  }

  // ───────────────────────── the chain ─────────────────────────

  /** Links each entry to the one its previousHash names; computes how far each branch goes. */
  private link(): void {
    for (const entry of this.entries) {
      const parent = entry.previousHash === GENESIS_HASH ? undefined : this.byHash.get(entry.previousHash);
      if (parent) {
        entry.parent = parent;
        parent.children.push(entry);
      }
    }
    // Depths bottom-up: a parent's depth is known once its children's are; iterate in reverse chain order.
    const order: Entry[] = [];
    const stack = this.entries.filter((e) => !e.parent);
    while (stack.length) {
      const e = stack.pop()!;
      order.push(e);
      stack.push(...e.children);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const e = order[i]!;
      for (const c of e.children) e.depth = Math.max(e.depth, c.depth + 1);
    }
  }

  /** Each root's chain, following at every fork the child that continues the sequence and goes furthest. */
  private pieces(): Entry[][] {
    const pieces: Entry[][] = [];
    for (const root of this.entries) {
      if (root.parent) continue;
      const path = [root];
      root.onPath = true;
      let current = root;
      for (;;) {
        const next = [...current.children].sort(
          (a, b) => Number(b.sequence === current.sequence + 1) - Number(a.sequence === current.sequence + 1) || b.depth - a.depth || a.index - b.index,
        )[0];
        if (!next) break;
        for (const other of current.children) if (other !== next) this.branches.push({ lines: subtree(other), from: current });
        next.onPath = true;
        path.push(next);
        current = next;
      }
      pieces.push(path);
    }
    let lastOnChain = -1;
    for (const e of this.entries) if (e.onPath) lastOnChain = e.index;
    for (const { lines, from } of this.branches) {
      const kind = lines[0]!.index > lastOnChain ? 'appended' : 'inserted';
      this.problem(
        kind,
        `${linesOf(lines)} ${kind === 'appended' ? 'were appended out of chain' : 'were inserted'}: they branch off after record ${from.sequence} (${where(from)}), whose chain goes on elsewhere`,
        lines[0]!,
      );
    }
    return pieces;
  }

  private checkPieces(pieces: Entry[][], partial: boolean): void {
    // Lines lying between two consecutive records of a chain, which link to each other past them, were inserted.
    const cover = new Int32Array(this.position + 1);
    for (const piece of pieces)
      for (let k = 1; k < piece.length; k++) {
        const low = Math.min(piece[k - 1]!.index, piece[k]!.index);
        const high = Math.max(piece[k - 1]!.index, piece[k]!.index);
        cover[low + 1]!++;
        cover[high]!--;
      }
    for (let i = 1; i < cover.length; i++) cover[i]! += cover[i - 1]!;
    const kept: Entry[][] = [];
    for (const piece of pieces) {
      if (piece.every((e) => cover[e.index]! > 0)) this.problem('inserted', `${linesOf(piece)} were inserted: they are not part of the chain around them`, piece[0]!);
      else kept.push(piece);
    }
    kept.sort((a, b) => a[0]!.index - b[0]!.index);

    const first = kept[0]?.[0];
    if (first && !partial && first.previousHash !== GENESIS_HASH) {
      if (first.sequence === 1) this.problem('changed', `record 1 (${where(first)}) was changed: it does not start a chain`, first);
      else if (this.firstSequenceOf.get(first.file) === first.sequence)
        this.note('partial', `the oldest file starts at record ${first.sequence} (${where(first)}): earlier files were removed (retention) or are elsewhere`, first);
    }

    for (let i = 0; i + 1 < kept.length; i++) {
      const a = kept[i]!.at(-1)!;
      const b = kept[i + 1]![0]!;
      const expected = a.sequence + 1;
      const between = this.bad.filter((bad) => bad.index > a.index && bad.index < b.index);
      if (b.sequence === 1 && b.previousHash === GENESIS_HASH) {
        this.problem('inserted', `${where(b)} starts a new chain (record 1) after record ${a.sequence} (${where(a)}): the lines from it on were inserted`, b);
      } else if (b.sequence === expected) {
        const after = kept[i + 2]?.[0];
        if (i + 1 === kept.length - 1 && kept[i + 1]!.length === 1) {
          // Nothing after it to tell the two apart.
          this.problem('appended', `${where(b)} (record ${b.sequence}) was appended out of chain (or record ${a.sequence} at ${where(a)} was changed): it does not link to record ${a.sequence}`, b);
        } else if (kept[i + 1]!.length === 1 && after && after.sequence === b.sequence + 1) {
          this.problem('changed', `record ${b.sequence} (${where(b)}) was changed: it no longer links to record ${a.sequence}, nor record ${after.sequence} to it`, b);
          i++;
        } else {
          this.problem('changed', `record ${a.sequence} (${where(a)}) was changed: its hash no longer matches the previousHash of record ${b.sequence} (${where(b)})`, a);
        }
      } else if (b.sequence > expected) {
        if (between.length === b.sequence - expected) {
          for (const bad of between) this.explained.add(bad.index);
          this.problem(
            'changed',
            `${range(expected, b.sequence - 1)} (${between.map((bad) => `${bad.file}:${bad.line}`).join(', ')}) ${between.length === 1 ? 'was' : 'were'} changed beyond reading (${between[0]!.reason})`,
            a,
            expected,
          );
        } else {
          this.problem('removed', `${range(expected, b.sequence - 1)} ${b.sequence - expected === 1 ? 'was' : 'were'} removed (between ${where(a)} and ${where(b)})`, a, expected);
        }
      } else {
        const kind = i + 1 === kept.length - 1 ? 'appended' : 'inserted';
        this.problem(
          kind,
          `${linesOf(kept[i + 1]!)} ${kind === 'appended' ? 'were appended out of chain' : 'were inserted'}: the sequence goes back from ${a.sequence} to ${b.sequence}`,
          b,
        );
      }
    }

    for (const piece of kept) {
      for (let k = 1; k < piece.length; k++) {
        const x = piece[k - 1]!;
        const y = piece[k]!;
        if (y.sequence !== x.sequence + 1)
          this.problem('changed', `record at ${where(y)} says sequence ${y.sequence} but follows record ${x.sequence}: it was changed`, y);
        if (y.index < x.index)
          this.problem(
            'reordered',
            `records ${x.sequence} and ${y.sequence} are out of order: record ${y.sequence} (${where(y)}) is written before record ${x.sequence} (${where(x)}), which it follows in the chain`,
            y,
          );
      }
    }
  }

  /** Checks every digest on the chain; returns the last record a valid digest vouches for. */
  private *checkDigests(pieces: Entry[][]): Steps<number | undefined> {
    let signedThrough: number | undefined;
    const last = pieces.at(-1);
    for (const piece of pieces) {
      let previousDigest: Entry | undefined;
      let lastValid = -1;
      const genesis = piece[0]!.previousHash === GENESIS_HASH;
      for (const [k, entry] of piece.entries()) {
        if (!entry.digest) continue;
        yield;
        const { record, signedText, signature } = entry.digest;
        const start = previousDigest ? previousDigest.sequence + 1 : genesis ? piece[0]!.sequence : undefined;
        if (record.digestEndSequence !== entry.sequence - 1 || (start !== undefined && record.digestStartSequence !== start))
          this.problem(
            'digest-range',
            `digest ${entry.sequence} (${where(entry)}) claims records ${record.digestStartSequence}–${record.digestEndSequence}, but ${previousDigest ? `the previous digest is record ${previousDigest.sequence}` : `it follows record ${entry.sequence - 1}`}`,
            entry,
          );
        previousDigest = entry;
        if (this.keys.size === 0) continue;
        const key = this.keys.get(record.publicKeyFingerprint);
        if (!key) {
          this.problem('signature', `digest ${entry.sequence} (${where(entry)}) is signed by a key that was not given (fingerprint ${record.publicKeyFingerprint})`, entry);
          continue;
        }
        if (!verifySignature('sha384', Buffer.from(signedText), key, signature)) {
          this.problem('signature', `digest ${entry.sequence} (${where(entry)}) was changed: its signature does not verify`, entry);
          continue;
        }
        lastValid = k;
      }
      if (lastValid >= 0) signedThrough = piece[lastValid]!.sequence - 1;
      if (piece === last && this.keys.size > 0) {
        const unsigned = piece.slice(lastValid + 1).filter((e) => !e.digest);
        if (unsigned.length > 0)
          this.note(
            'unsigned',
            `${range(unsigned[0]!.sequence, unsigned.at(-1)!.sequence)} (${new Date(unsigned[0]!.time).toISOString()} – ${new Date(unsigned.at(-1)!.time).toISOString()}) ${unsigned.length === 1 ? 'comes' : 'come'} after the last signed digest: chained, not yet signed (the node is running, or stopped without closing)`,
            unsigned[0]!,
          );
      }
    }
    return signedThrough;
  }

  private reportMalformed(): void {
    for (const bad of this.bad) {
      if (this.explained.has(bad.index)) continue;
      this.findings.push({ severity: 'problem', kind: 'malformed', nodeId: this.nodeId, file: bad.file, line: bad.line, message: `${bad.file}:${bad.line} is not a valid record (${bad.reason})` });
    }
  }

  private problem(kind: FindingKind, message: string, at: Entry, sequence = at.sequence): void {
    this.findings.push({ severity: 'problem', kind, nodeId: this.nodeId, file: at.file, line: at.line, sequence, message });
  }

  private note(kind: FindingKind, message: string, at: Entry): void {
    this.findings.push({ severity: 'note', kind, nodeId: this.nodeId, file: at.file, line: at.line, sequence: at.sequence, message });
  }
}

function subtree(root: Entry): Entry[] {
  const lines: Entry[] = [];
  const stack = [root];
  while (stack.length) {
    const e = stack.pop()!;
    lines.push(e);
    stack.push(...e.children);
  }
  return lines.sort((a, b) => a.index - b.index);
}

function where(e: { file: string; line: number }): string {
  return `${e.file}:${e.line}`;
}

function range(from: number, to: number): string {
  return from === to ? `record ${from}` : `records ${from}–${to}`;
}

function linesOf(entries: Entry[]): string {
  const first = entries[0]!;
  const last = entries.at(-1)!;
  const seqs = entries.length === 1 ? `record ${first.sequence}` : `records ${first.sequence}…${last.sequence}`;
  return entries.length === 1 ? `${where(first)} (${seqs})` : `${where(first)}–${last.file === first.file ? last.line : where(last)} (${seqs})`;
}
