/**
 * `hsmkms serve --xks-cluster ID` with `--cluster ID=pkcs11:…?pin-source=…`: that PIN follows the
 * default token's path — read once by the primary, handed to every worker over IPC, a variable
 * unset before workers start. Before, each worker read the source itself: a one-shot source (a
 * FIFO) blocked the second worker for ever, and `env:` sources stayed in workers' environments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, children, hsmkms, serve, until } from '../support/cli.js';

let dataDir: string;
let pinFile: string;
const LABEL = 'xks-part';
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-cluster-pins-'));
  await hsmkms(['token', 'init', '--label', LABEL, '--data-dir', dataDir]);
  pinFile = join(dataDir, `${LABEL}.pin`);
}, 120_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const pin = () => readFileSync(pinFile, 'utf8').replace(/\r?\n$/, '');
/** Whether the PIN is in a process's command line or initial environment. */
const exposes = (pid: number, secret: string) => ['cmdline', 'environ'].some((file) => readFileSync(`/proc/${pid}/${file}`).includes(Buffer.from(secret)));
const clusterArgs = (pinSource: string) => [
  '--data-dir',
  dataDir,
  '--port',
  '0',
  '--workers',
  '2',
  '--log-level',
  'warn',
  '--cluster',
  `${LABEL}=pkcs11:token=${LABEL}?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=${pinSource}`,
  '--xks-cluster',
  LABEL,
];

/** Starts serve with the cluster's `pinSource`: both workers serve, neither holds the PIN in argv or environment. */
async function servesWithoutExposing(pinSource: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const served = await serve(clusterArgs(pinSource), env);
  const primary = served.child.pid!;
  try {
    await until(() => children(primary).length === 2, 10_000, 'two workers');
    expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
    for (const worker of children(primary)) expect(exposes(worker, pin())).toBe(false);
    expect(await served.stop()).toBe(0);
  } finally {
    for (const pid of [...children(primary), primary]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

describe("serve: the XKS cluster's pin-source", () => {
  it('a FIFO: read once by the primary, both workers get the PIN', async () => {
    const fifo = join(dataDir, 'cluster-pin.fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // One writer, one read: a second open of the FIFO would block for ever.
    const writer = spawn('sh', ['-c', `cat "$0" > "${fifo}"`, pinFile], { stdio: 'ignore' });
    try {
      await servesWithoutExposing(`file:${fifo}`);
    } finally {
      writer.kill('SIGKILL');
    }
  }, 120_000);

  it('env:NAME: the primary unsets the variable, so its workers do not inherit the PIN', async () => {
    await servesWithoutExposing('env:HSMKMS_TEST_CLUSTER_PIN', { HSMKMS_TEST_CLUSTER_PIN: pin() });
  }, 120_000);
});
