/** The audit-trail options of `serve` and `ca` (and the directory option the `audit` commands share). */
import { Command, Option } from 'commander';
import { join, resolve } from 'node:path';
import type { AuditConfig } from '../app.js';
import { AUDIT_DEFAULTS, defaultAuditNodeId } from '../audit/index.js';
import { ConfigError } from '../config/hsm.js';

export interface AuditDirCliOptions {
  dataDir: string;
  auditDir?: string;
}

export interface AuditCliOptions extends AuditDirCliOptions {
  audit: 'on' | 'off';
  auditFailure: 'closed' | 'open';
  auditSync: 'before-answer' | 'background';
  auditNodeId?: string;
  auditDigestRecords: string;
  auditDigestSeconds: string;
  auditMaxFileSize: string;
}

export function addAuditDirOption(command: Command): Command {
  return command.addOption(new Option('--audit-dir <dir>', 'audit trail directory (default: <data-dir>/audit)').env('HSMKMS_AUDIT_DIR'));
}

export function addAuditOptions(command: Command): Command {
  return addAuditDirOption(command)
    .addOption(new Option('--audit <mode>', 'record every call in the audit trail').choices(['on', 'off']).env('HSMKMS_AUDIT').default('on'))
    .addOption(
      new Option('--audit-failure <mode>', 'when the audit trail cannot be written: refuse calls (closed) or serve and log errors (open)')
        .choices(['closed', 'open'])
        .env('HSMKMS_AUDIT_FAILURE')
        .default('closed'),
    )
    .addOption(
      new Option(
        '--audit-sync <when>',
        'answer a call once its record is on disk (before-answer), or once it is in the file, synced right after (background: a power loss can lose the last records; see README)',
      )
        .choices(['before-answer', 'background'])
        .env('HSMKMS_AUDIT_SYNC')
        .default('before-answer'),
    )
    .addOption(
      new Option('--audit-node-id <name>', "this server's name in the audit trail; each serve worker appends -w<index>, hsmkms ca -ca<n> (default: host name)").env(
        'HSMKMS_AUDIT_NODE_ID',
      ),
    )
    .addOption(
      new Option('--audit-digest-records <n>', 'sign a digest after this many records').env('HSMKMS_AUDIT_DIGEST_RECORDS').default(String(AUDIT_DEFAULTS.digestEveryRecords)),
    )
    .addOption(
      new Option('--audit-digest-seconds <n>', '… or after this many seconds').env('HSMKMS_AUDIT_DIGEST_SECONDS').default(String(AUDIT_DEFAULTS.digestEverySeconds)),
    )
    .addOption(
      new Option('--audit-max-file-size <size>', 'start a new audit file past this size (bytes, or with k/M/G)').env('HSMKMS_AUDIT_MAX_FILE_SIZE').default('64M'),
    );
}

export function auditDirOf(options: AuditDirCliOptions): string {
  return resolve(options.auditDir ?? join(options.dataDir, 'audit'));
}

/** `hsmkms ca` commands running at once, each on a chain of its own (`<host>-ca0` …), before one is refused. */
export const CA_AUDIT_NODES = 8;

/**
 * The audit configuration for serve's worker `process` (0 without workers; `recycled`: workers
 * are replaced by `--recycle-worker-after`), or for `hsmkms ca`
 * (`'ca'`: the first free of {@link CA_AUDIT_NODES} chains, so that several can run at once).
 */
export function auditConfigFrom(options: AuditCliOptions, process: number | 'ca', recycled = false): AuditConfig {
  if (options.audit === 'off') return { enabled: false };
  const nodeIds =
    process === 'ca'
      ? Array.from({ length: CA_AUDIT_NODES }, (_, i) => defaultAuditNodeId(`ca${i}`, options.auditNodeId))
      : recycled
        ? // A recycled worker's replacement starts while it still writes its chain: the two take turns on two.
          [defaultAuditNodeId(process, options.auditNodeId), defaultAuditNodeId(`w${process}b`, options.auditNodeId)]
        : [defaultAuditNodeId(process, options.auditNodeId)];
  const nodeId = nodeIds[0]!;
  if (options.auditNodeId !== undefined && !nodeId.startsWith(options.auditNodeId))
    throw new ConfigError(`--audit-node-id must be letters, digits, '.', '_' or '-' (at most 56), got '${options.auditNodeId.slice(0, 80)}'.`);
  return {
    dir: auditDirOf(options),
    nodeId: nodeIds.length === 1 ? nodeId : nodeIds,
    failure: options.auditFailure,
    sync: options.auditSync,
    digestEveryRecords: integerIn('--audit-digest-records', options.auditDigestRecords, 1, 1_000_000),
    digestEverySeconds: integerIn('--audit-digest-seconds', options.auditDigestSeconds, 1, 86_400),
    maxFileBytes: byteSize('--audit-max-file-size', options.auditMaxFileSize),
  };
}

function integerIn(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${flag} must be an integer from ${min} to ${max}, got '${text}'.`);
  return value;
}

function byteSize(flag: string, text: string): number {
  const m = /^(\d{1,12})([kKmMgG]?)$/.exec(text);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m?.[2]?.toLowerCase() ?? ''];
  const value = m && scale ? Number(m[1]) * scale : NaN;
  if (!Number.isSafeInteger(value) || value < 4096) throw new ConfigError(`${flag} must be a size of at least 4096 bytes (e.g. 64M), got '${text}'.`);
  return value;
}
