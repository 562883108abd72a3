/**
 * The audit trail's promises, on a real `hsmkms serve` process:
 * - kill -9 under a load of Encrypts loses no record of a call whose answer was sent (with the
 *   record synced before the answer, and with `--audit-sync background`), and verify passes
 *   (reporting a torn or unsigned tail as such); a restart signs the tail;
 * - when the audit file cannot be written (the process's file-size limit lowered with prlimit,
 *   so the kernel fails the real write with EFBIG), fail-closed refuses calls with
 *   DependencyTimeoutException (503) and /health says 503, and recovers by itself once
 *   writes work again, writing the records it kept; fail-open serves throughout;
 * - an audit directory that cannot be used stops start-up with a message.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { HSMKMS_BIN, serve, testTokenArgs, type Served } from '../support/cli.js';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'hsmkms-audit-durable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tokenArgs = testTokenArgs();

function client(dataDir: string, endpoint: string): KMSClient {
  const creds = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  return new KMSClient({ endpoint, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
}

/** Every call record's request id in the trail (complete lines only). */
function recordedRequestIds(auditDir: string): Set<string> {
  const ids = new Set<string>();
  for (const name of readdirSync(auditDir).filter((f) => f.endsWith('.jsonl'))) {
    const text = readFileSync(join(auditDir, name), 'utf8');
    for (const line of text.split('\n').slice(0, -1)) {
      const doc = JSON.parse(line) as { eventType: string; requestID?: string };
      if (doc.eventType === 'AwsApiCall') ids.add(doc.requestID!);
    }
  }
  return ids;
}

async function verify(dataDir: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, [HSMKMS_BIN, 'audit', 'verify', '--data-dir', dataDir], { timeout: 60_000 });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

async function health(endpoint: string): Promise<number> {
  return (await fetch(`${endpoint}/health`)).status;
}

describe('audit durability', () => {
  // --audit-sync background answers once the record is in the file (not yet synced): a crash of the
  // process must not lose it either (only a power loss may).
  it.each(['before-answer', 'background'])('kill -9 under load loses no record of an acknowledged call (--audit-sync %s); verify passes up to the tail', async (sync) => {
    const dataDir = join(root, `crash-${sync}`);
    // One process, so that SIGKILL of the spawned pid kills the process writing the audit trail.
    const args = ['--data-dir', dataDir, '--port', '0', '--audit-node-id', 'crash', '--audit-sync', sync, '--recycle-worker-after', 'off', ...tokenArgs];
    let served = await serve(args);
    const kms = client(dataDir, served.endpoint);
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const acknowledged: string[] = [];
    let inFlightAtKill = 0;
    let inFlight = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        inFlight++;
        try {
          const out = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('load') }));
          acknowledged.push(out.$metadata.requestId!);
        } catch {
          /* the server died under this call: not acknowledged */
        } finally {
          inFlight--;
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    while (acknowledged.length < 400) await new Promise((resolve) => setTimeout(resolve, 20));
    inFlightAtKill = inFlight;
    served.child.kill('SIGKILL');
    await new Promise((resolve) => served.child.once('exit', resolve));
    stop = true;
    await Promise.all(workers);
    kms.destroy();

    expect(inFlightAtKill).toBeGreaterThan(0);
    const auditDir = join(dataDir, 'audit');
    const recorded = recordedRequestIds(auditDir);
    const missing = acknowledged.filter((id) => !recorded.has(id));
    expect(missing).toEqual([]);

    const [file] = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl'));
    const torn = !readFileSync(join(auditDir, file!), 'utf8').endsWith('\n');
    const afterCrash = await verify(dataDir);
    expect(afterCrash.code).toBe(0);
    expect(afterCrash.stdout).toMatch(/result: intact/);
    expect(afterCrash.stdout).toMatch(/note\s+unsigned\s+crash-w0: records \d+–\d+ .*not yet signed/);
    if (torn) expect(afterCrash.stdout).toMatch(/note\s+torn-tail\s+crash-w0: .*write was cut short/);

    // The next run goes on with the chain and signs what the crashed one left unsigned.
    served = await serve(args);
    expect(await served.stop()).toBe(0);
    const afterRestart = await verify(dataDir);
    expect(afterRestart.code).toBe(0);
    expect(afterRestart.stdout).not.toMatch(/unsigned/);
    expect(afterRestart.stdout).toMatch(/crash-w0: records 1–(\d+) .*signed through record (\d+)/);
    const [, last, signed] = /records 1–(\d+) .*signed through record (\d+)/.exec(afterRestart.stdout)!;
    expect(Number(signed)).toBe(Number(last) - 1);
  });

  it('fail-closed: refuses calls (503 DependencyTimeoutException) while the audit file cannot be written, then recovers', async () => {
    const dataDir = join(root, 'closed');
    // One process: prlimit applies to the spawned pid, which must be the one writing the audit file.
    const served: Served = await serve(['--data-dir', dataDir, '--port', '0', '--audit-node-id', 'closed', '--recycle-worker-after', 'off', ...tokenArgs]);
    let logs = '';
    served.child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    const kms = client(dataDir, served.endpoint);
    const pid = String(served.child.pid);
    try {
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before') }));
      const file = join(dataDir, 'audit', 'closed-w0.000000000001.jsonl');
      // The kernel now fails any write past the file's current end (EFBIG), as a full disk would.
      execFileSync('prlimit', ['--pid', pid, `--fsize=${statSync(file).size}:unlimited`]);

      const withheld = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('during') })).then(
        () => undefined,
        (error: { name: string; message: string; $metadata: { httpStatusCode: number; requestId: string } }) => error,
      );
      expect(withheld?.name).toBe('DependencyTimeoutException');
      expect(withheld?.$metadata.httpStatusCode).toBe(503);
      expect(withheld?.message).toMatch(/withheld because its audit record could not be written/);
      const refused = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('during') })).then(
        () => undefined,
        (error: { name: string; message: string }) => error,
      );
      expect(refused?.name).toBe('DependencyTimeoutException');
      expect(refused?.message).toMatch(/refused because the audit trail cannot be written/);
      expect(await health(served.endpoint)).toBe(503);

      execFileSync('prlimit', ['--pid', pid, '--fsize=unlimited:unlimited']);
      let recovered = false;
      for (let i = 0; i < 50 && !recovered; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        recovered = (await health(served.endpoint)) === 200;
      }
      expect(recovered).toBe(true);
      const after = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after') }));
      const recorded = recordedRequestIds(join(dataDir, 'audit'));
      expect(recorded.has(withheld!.$metadata.requestId)).toBe(true);
      expect(recorded.has(after.$metadata.requestId!)).toBe(true);
      expect(logs).toMatch(/audit trail cannot be written: refusing requests until it can/);
      expect(logs).toMatch(/EFBIG/);
      // The log is written in batches (every 20 ms, later on a loaded machine): the recovery's line
      // may reach the pipe after the answers above.
      for (let i = 0; i < 50 && !/audit trail writable again/.test(logs); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logs).toMatch(/audit trail writable again/);
    } finally {
      kms.destroy();
      expect(await served.stop()).toBe(0);
    }
    const report = await verify(dataDir);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/result: intact/);
  });

  it('fail-open: serves while the audit file cannot be written, and writes the records afterwards', async () => {
    const dataDir = join(root, 'open');
    // One process: prlimit applies to the spawned pid, which must be the one writing the audit file.
    const served = await serve(['--data-dir', dataDir, '--port', '0', '--audit-node-id', 'open', '--audit-failure', 'open', '--recycle-worker-after', 'off', ...tokenArgs]);
    const kms = client(dataDir, served.endpoint);
    try {
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const file = join(dataDir, 'audit', 'open-w0.000000000001.jsonl');
      execFileSync('prlimit', ['--pid', String(served.child.pid), `--fsize=${statSync(file).size}:unlimited`]);
      const during = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('during') }));
      expect(await health(served.endpoint)).toBe(200);
      expect(recordedRequestIds(join(dataDir, 'audit')).has(during.$metadata.requestId!)).toBe(false);
      execFileSync('prlimit', ['--pid', String(served.child.pid), '--fsize=unlimited:unlimited']);
      let written = false;
      for (let i = 0; i < 50 && !written; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        written = recordedRequestIds(join(dataDir, 'audit')).has(during.$metadata.requestId!);
      }
      expect(written).toBe(true);
    } finally {
      kms.destroy();
      expect(await served.stop()).toBe(0);
    }
    expect((await verify(dataDir)).code).toBe(0);
  });

  it('with --workers 2, each worker writes and signs its own chain', async () => {
    const dataDir = join(root, 'workers');
    const served = await serve(['--data-dir', dataDir, '--port', '0', '--workers', '2', '--audit-node-id', 'multi', ...tokenArgs]);
    const kms = client(dataDir, served.endpoint);
    try {
      const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
      const ids = await Promise.all(
        Array.from({ length: 40 }, async () => (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).$metadata.requestId!),
      );
      kms.destroy();
      expect(await served.stop()).toBe(0);
      const recorded = recordedRequestIds(join(dataDir, 'audit'));
      expect(ids.filter((id) => !recorded.has(id))).toEqual([]);
    } finally {
      kms.destroy();
      await served.stop();
    }
    const report = await verify(dataDir);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/: 2 nodes\n/);
    expect(report.stdout).toMatch(/multi-w0: records 1–\d+ .*signed through/);
    expect(report.stdout).toMatch(/multi-w1: records 1–\d+ .*signed through/);
  });

  it('refuses to start when the audit directory cannot be used', async () => {
    const dataDir = join(root, 'blocked');
    const notADirectory = join(root, 'a-file');
    writeFileSync(notADirectory, 'not a directory');
    await expect(serve(['--data-dir', dataDir, '--port', '0', '--audit-dir', notADirectory, ...tokenArgs])).rejects.toThrow(
      /exited with 1:[\s\S]*The audit trail in .*a-file cannot be opened/,
    );
  });
});
