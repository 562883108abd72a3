/**
 * What the audit and quorum commands print for a person at a terminal holds no control
 * characters from the trail: any signed-in caller chooses request parameters (a KeyId that names
 * no key is recorded as sent), and before, `hsmkms audit search` and `tail` printed such a KeyId
 * raw — escape sequences that could erase the caller's own lines from the auditor's screen,
 * retitle the terminal, or reorder text with bidirectional controls. They are now shown escaped
 * (`\u001b`); `--json` prints the stored line as JSON of the same value, for programs, with the
 * controls JSON.stringify leaves raw (DEL, C1, bidirectional) written as `\uXXXX` escapes too.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChainedAuditSink } from '../../src/audit/index.js';
import { printable } from '../../src/cli/output.js';
import { HSMKMS_BIN } from '../support/cli.js';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-audit-terminal-'));
const HOSTILE = 'alias/x\u001b[1A\u001b[2K\r\u001b]0;owned\u0007\u009b2J\u202egnp.exe\u0000\n2026-01-01T00:00:00.000Z  Encrypt  OK  arn:aws:iam::111122223333:root';

beforeAll(async () => {
  // As the server records a DescribeKey of a key that does not exist: no resource, the KeyId as sent.
  const sink = await openChainedAuditSink({ dir: join(dataDir, 'audit'), nodeId: 'host-w0' });
  await sink.record({
    eventTime: new Date(),
    eventName: 'DescribeKey',
    requestId: 'req-1',
    principalArn: 'arn:aws:iam::111122223333:user/insider',
    resources: [],
    requestParameters: { KeyId: HOSTILE },
    errorCode: 'NotFoundException',
    errorMessage: `Alias ${HOSTILE} is not found.`,
  });
  await sink.close();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** C0 (but the newline that ends each line), DEL, C1 and the bidirectional embedding, override and isolate controls. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('audit output for a terminal', () => {
  it('search and tail print a hostile KeyId escaped, and --json the stored line with its controls escaped', async () => {
    for (const command of [['search'], ['tail']]) {
      const { stdout } = await run(process.execPath, [HSMKMS_BIN, 'audit', ...command, '--data-dir', dataDir], { timeout: 60_000 });
      expect(stdout).toMatch(/DescribeKey\s+NotFoundException\s+arn:aws:iam::111122223333:user\/insider\s+alias\/x\\u001b\[1A/);
      expect(stdout).not.toMatch(CONTROL);
      expect(stdout.trimEnd().split('\n')).toHaveLength(1);
      const json = await run(process.execPath, [HSMKMS_BIN, 'audit', ...command, '--data-dir', dataDir, '--json'], { timeout: 60_000 });
      expect((JSON.parse(json.stdout) as { requestParameters: { KeyId: string } }).requestParameters.KeyId).toBe(HOSTILE);
      // JSON escapes C0 but not C1 (U+009B is a terminal's CSI) nor bidirectional controls: escaped here too.
      expect(json.stdout).not.toMatch(CONTROL);
    }
  });

  it('escapes exactly the control characters, and leaves other text alone', () => {
    expect(printable(HOSTILE)).toBe(
      'alias/x\\u001b[1A\\u001b[2K\\u000d\\u001b]0;owned\\u0007\\u009b2J\\u202egnp.exe\\u0000\\u000a2026-01-01T00:00:00.000Z  Encrypt  OK  arn:aws:iam::111122223333:root',
    );
    expect(printable('DescribeKey  ünïcödé — 鍵 🔑')).toBe('DescribeKey  ünïcödé — 鍵 🔑');
  });
});
