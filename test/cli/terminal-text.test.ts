/**
 * Text that neither the operator nor hsmkms chose, reaching the terminal through the real
 * `hsmkms` binary, comes out with its control and bidirectional characters escaped (`\u202e`):
 * a region peer's answer to `region add` (its principal's ARN and region, on stdout), and a
 * `serve` progress line carrying the detail of a policy document that does not parse (SIGHUP).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hsmkms, serve, testTokenArgs, until } from '../support/cli.js';

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-terminal-text-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Right-to-left override, a terminal's CSI (C1) and ESC: what a hostile text would carry. */
const HOSTILE = '\u202e\u009b\u001b[2J';

describe('region add', () => {
  /** A peer answering GetCallerIdentity as a compromised or hostile deployment might: its own choice of text. */
  let peer: Server;
  let endpoint: string;
  beforeAll(async () => {
    peer = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ Arn: `arn:aws:iam::444455556666:user/rep${HOSTILE}`, Roles: ['RegionPeer'], PeerRegion: `us-east-1${HOSTILE}`, Root: false }));
      });
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => peer.close(() => resolve())));

  it("prints the peer's ARN and region with their controls escaped, as JSON that parses to the same text", async () => {
    const { stdout } = await hsmkms(['region', 'add', 'eu-west-1', '--endpoint', endpoint, ...testTokenArgs(), '--data-dir', dataDir], {
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEPEER',
      AWS_SECRET_ACCESS_KEY: 'peer-secret',
    });
    expect(stdout).not.toMatch(/[\u001b\u009b\u202e]/);
    expect(stdout).toContain('rep\\u202e\\u009b\\u001b[2J');
    const line = JSON.parse(stdout);
    expect(line.peerPrincipal).toBe(`arn:aws:iam::444455556666:user/rep${HOSTILE}`);
    expect(line.peerRegion).toBe(`us-east-1${HOSTILE}`);
    await hsmkms(['region', 'remove', 'eu-west-1', ...testTokenArgs(), '--data-dir', dataDir]);
  }, 120_000);
});

describe('serve: progress lines', () => {
  it('SIGHUP: the detail of a policy document that does not parse is shown escaped', async () => {
    const file = join(dataDir, 'policy.json');
    const policy = (operator: string) =>
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:Encrypt', Resource: '*', Condition: { [operator]: { 'kms:x': 'y' } } }] });
    writeFileSync(file, policy('StringEquals'));
    const served = await serve(['--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--recycle-worker-after', 'off', '--log-level', 'warn', '--xks-policy', `acme=${file}`]);
    try {
      writeFileSync(file, policy(`StringEq${HOSTILE}uals`));
      served.child.kill('SIGHUP');
      await until(() => /SIGHUP: nothing reloaded/.test(served.stderr()), 20_000, 'the reload refused');
      expect(served.stderr()).toContain('unknown condition operator StringEq\\u202e\\u009b\\u001b[2Juals');
      expect(served.stderr()).not.toMatch(/[\u001b\u009b\u202e]/);
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 120_000);
});
