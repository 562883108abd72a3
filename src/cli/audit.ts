/**
 * `hsmkms audit …`: the audit trail from the command line. `verify`, `tail` and `search` work
 * offline on the audit directory (no HSM, no PIN); `public-key` asks the HSM for the
 * verification key.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { Command, Option } from 'commander';
import {
  auditSignerOf,
  lookupAuditEvents,
  PUBLIC_KEY_FILE,
  publicKeyFingerprint,
  tailAuditEvents,
  verifyAuditTrail,
  type AuditEventFound,
  type VerifyReport,
} from '../audit/index.js';
import { ConfigError } from '../config/hsm.js';
import { addAuditDirOption, auditDirOf, type AuditDirCliOptions } from './audit-options.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { jsonLine, printable, printableJson } from './output.js';
import { progress } from './service-options.js';

interface OutputOptions {
  json?: boolean;
}

export function auditCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const audit = new Command('audit');

  const verify = withDataDir(new Command('verify'))
    .description('Check every node\'s hash chain and every digest signature offline; exit 1 if the trail was tampered with.')
    .addOption(new Option('--from <time>', 'only files holding records from this time (ISO 8601, or 15m/2h/7d ago)'))
    .addOption(new Option('--to <time>', '… up to this time'))
    .addOption(new Option('--public-key <file...>', `verification key(s), PEM, as exported by \`hsmkms audit public-key\` (default: ${PUBLIC_KEY_FILE} in the audit directory)`))
    .addOption(new Option('--json', 'print the report as JSON'))
    .action((options: AuditDirCliOptions & OutputOptions & { from?: string; to?: string; publicKey?: string[] }) => {
      const dir = existingAuditDir(options);
      const keys: string[] = [];
      let besideTrail = false;
      for (const file of options.publicKey ?? []) keys.push(readFileSync(resolve(file), 'utf8'));
      if (keys.length === 0 && existsSync(join(dir, PUBLIC_KEY_FILE))) {
        keys.push(readFileSync(join(dir, PUBLIC_KEY_FILE), 'utf8'));
        besideTrail = true;
      }
      const report = verifyAuditTrail({ dir, from: time('--from', options.from), to: time('--to', options.to), publicKeys: keys });
      if (options.json) process.stdout.write(jsonLine(report, 2));
      else printReport(dir, report, besideTrail);
      if (!report.ok) process.exitCode = 1;
    });

  const publicKey = addHsmOptions(new Command('public-key'))
    .description('Print the audit verification key (PEM) from the HSM, creating the audit key on first use. Keep a copy away from the trail.')
    .addOption(new Option('--out <file>', 'write the PEM to this file instead of stdout'))
    .action(async (options: HsmCliOptions & { out?: string }) => {
      const hsm = await resolveHsmConfig(options, progress);
      const { openServices, quietLogger } = await import('../app.js');
      const services = await openServices(resolve(options.dataDir), hsm, quietLogger());
      try {
        const signer = auditSignerOf(services.backend);
        if (!signer) throw new ConfigError('This HSM backend cannot sign audit digests.');
        const spki = await signer.auditPublicKey();
        const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
        if (options.out) writeFileSync(resolve(options.out), pem, { mode: 0o644 });
        else process.stdout.write(pem);
        progress(`audit key fingerprint (SHA-256 of the key): ${publicKeyFingerprint(spki)}`);
      } finally {
        await services.close();
      }
    });

  const tail = withDataDir(new Command('tail'))
    .description('Print the latest calls across all nodes, oldest first; with --follow, each new one as it is written.')
    .addOption(new Option('-n, --lines <n>', 'how many').default('10'))
    .addOption(new Option('-f, --follow', 'keep printing new calls until interrupted'))
    .addOption(new Option('--json', 'print the records as stored (JSON lines)'))
    .action(async (options: AuditDirCliOptions & OutputOptions & { lines: string; follow?: boolean }) => {
      const dir = existingAuditDir(options);
      const last = Number(options.lines);
      if (!Number.isInteger(last) || last < 0 || last > 100_000) throw new ConfigError(`--lines must be 0–100000, got '${options.lines}'.`);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await tailAuditEvents(dir, {
        last,
        follow: options.follow === true,
        signal: stop.signal,
        onEvent: (event) => print(event, options),
        onFollowing: () => progress(`following ${dir} (interrupt to stop)`),
      });
    });

  const search = withDataDir(new Command('search'))
    .description('Find calls, newest first (CloudTrail LookupEvents filters); prints the marker of the next page to stderr.')
    .addOption(new Option('--from <time>', 'calls at or after this time (ISO 8601, or 15m/2h/7d ago)'))
    .addOption(new Option('--to <time>', 'calls at or before this time'))
    .addOption(new Option('--event-name <name>', 'operation, e.g. Decrypt'))
    .addOption(new Option('--principal <who>', 'caller ARN, user name, or account id (its root)'))
    .addOption(new Option('--key <key>', 'key id, key ARN, alias/name or alias ARN'))
    .addOption(new Option('--error-code <code>', 'e.g. AccessDeniedException'))
    .addOption(new Option('--max-results <n>', 'calls per page (1–50)').default('50'))
    .addOption(new Option('--marker <marker>', 'continue after a previous page'))
    .addOption(new Option('--json', 'print the records as stored (JSON lines)'))
    .action(
      (
        options: AuditDirCliOptions &
          OutputOptions & { from?: string; to?: string; eventName?: string; principal?: string; key?: string; errorCode?: string; maxResults: string; marker?: string },
      ) => {
        const dir = existingAuditDir(options);
        const maxResults = Number(options.maxResults);
        if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 50) throw new ConfigError(`--max-results must be 1–50, got '${options.maxResults}'.`);
        const result = lookupAuditEvents(dir, {
          startTime: time('--from', options.from),
          endTime: time('--to', options.to),
          eventName: options.eventName,
          principal: options.principal,
          key: options.key,
          errorCode: options.errorCode,
          maxResults,
          marker: options.marker,
        });
        for (const event of result.events) print(event, options);
        if (result.unreadableLines > 0) progress(`${result.unreadableLines} lines could not be read as records: run \`hsmkms audit verify\``);
        if (result.nextMarker) progress(`more: --marker ${result.nextMarker}`);
      },
    );

  return audit.addCommand(verify).addCommand(publicKey).addCommand(tail).addCommand(search);
}

function withDataDir(command: Command): Command {
  return addAuditDirOption(
    command.addOption(new Option('--data-dir <dir>', 'data directory (its audit/ subdirectory is read)').env('HSMKMS_DATA_DIR').default('./data')),
  );
}

function existingAuditDir(options: AuditDirCliOptions): string {
  const dir = auditDirOf(options);
  if (!existsSync(dir)) throw new ConfigError(`No audit trail at ${dir} (give --data-dir or --audit-dir).`);
  return dir;
}

/** ISO 8601, or a duration ago: 90s, 15m, 2h, 7d. */
function time(flag: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const ago = /^(\d{1,9})([smhd])$/.exec(text);
  if (ago) return new Date(Date.now() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd']);
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text) : new Date(NaN);
  if (Number.isNaN(parsed.getTime())) throw new ConfigError(`${flag} must be an ISO 8601 time (2026-01-02T03:04:05Z) or a duration ago (15m, 2h, 7d), got '${text.slice(0, 40)}'.`);
  return parsed;
}

function print(event: AuditEventFound, options: OutputOptions): void {
  if (options.json) {
    process.stdout.write(`${printableJson(event.line)}\n`);
    return;
  }
  const r = event.record;
  const resource = r.resources[0]?.ARN ?? (typeof r.requestParameters?.KeyId === 'string' ? r.requestParameters.KeyId : '-');
  process.stdout.write(`${printable(`${r.eventTime}  ${r.eventName.padEnd(22)} ${(r.errorCode ?? 'OK').padEnd(26)} ${r.userIdentity.arn}  ${resource}  ${r.requestID}`)}\n`);
}

function printReport(dir: string, report: VerifyReport, besideTrail: boolean): void {
  const out: string[] = [`audit trail ${dir}: ${report.nodes.length} node${report.nodes.length === 1 ? '' : 's'}`];
  for (const n of report.nodes)
    out.push(
      `  ${n.nodeId}: records ${n.firstSequence ?? '-'}–${n.lastSequence ?? '-'} in ${n.files} file${n.files === 1 ? '' : 's'} (${n.firstTime ?? '-'} – ${n.lastTime ?? '-'}), ` +
        `${n.records} call${n.records === 1 ? '' : 's'}, ${n.digests} digest${n.digests === 1 ? '' : 's'}${n.signedThrough !== undefined ? `, signed through record ${n.signedThrough}` : ''}`,
    );
  if (report.keys.length > 0) out.push(`  signatures checked with key ${report.keys.join(', ')}${besideTrail ? ` (from ${PUBLIC_KEY_FILE} beside the trail: for proof, pass a copy kept elsewhere with --public-key)` : ''}`);
  for (const f of report.findings) out.push(`${f.severity === 'problem' ? 'PROBLEM' : 'note   '} ${f.kind.padEnd(12)} ${f.nodeId}: ${f.message}`);
  const problems = report.findings.filter((f) => f.severity === 'problem').length;
  out.push(problems === 0 ? 'result: intact' : `result: TAMPERED (${problems} problem${problems === 1 ? '' : 's'})`);
  process.stdout.write(`${out.map(printable).join('\n')}\n`);
}
