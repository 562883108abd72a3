/**
 * Scale-out on PostgreSQL with real processes: `hsmkms serve --store postgres://…` nodes
 * sharing one database (test/store/postgres-server.ts) and the run's token.
 *
 * - the store flags: a password in the URL is refused without being echoed; nodes started
 *   together migrate once; the offline CLI works on the same store;
 * - cache coherence: a key disabled, a grant revoked, a key policy changed or an access key
 *   deleted through node A is refused on A at once and on node B within the change feed's
 *   bound (the delays are printed; the assertion is a generous bound, not a benchmark);
 * - the scheduler runs on exactly one node and moves to another when that one is killed;
 * - PostgreSQL stopped under the nodes: `/health` 503 and retryable AWS errors (not hangs);
 *   started again: the nodes serve again without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  KMSClient,
  PutKeyPolicyCommand,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { hsmkms, testTokenArgs } from '../support/cli.js';
import { startDeployment, type Deployment, type DeployedNode } from '../support/deployment.js';
import { findPostgres, startPostgres, type TestPostgres } from '../store/postgres-server.js';

const found = findPostgres();
if ('missing' in found) console.warn(`scale-out tests skipped: ${found.missing}`);

const ACCOUNT = '111122223333';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const ACCOUNT_ADMIN = { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' };
const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

type Credentials = { accessKeyId: string; secretAccessKey: string };
const clients: KMSClient[] = [];
function kmsAt(node: DeployedNode | string, region: string, credentials: Credentials): KMSClient {
  const endpoint = typeof node === 'string' ? node : node.endpoint;
  const client = new KMSClient({ endpoint, region, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}

/** The error a call ends with, or undefined when it succeeds. */
async function outcome(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return (error as { name: string }).name;
  }
}

/**
 * Sends `probe` until it is refused with `refusal` and returns how long that took (ms, from
 * the call), failing after `limitMs`.
 */
async function delayUntilRefused(probe: () => Promise<unknown>, refusal: string, limitMs = 10_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const error = await outcome(probe());
    const elapsed = performance.now() - start;
    if (error === refusal) return elapsed;
    if (error !== undefined) throw new Error(`expected ${refusal}, got ${error}`);
    if (elapsed > limitMs) throw new Error(`still accepted ${limitMs} ms after the change`);
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const plaintext = new Uint8Array([1, 2, 3]);

describe.skipIf('missing' in found)('scale-out on PostgreSQL', () => {
  let postgres: TestPostgres;
  let deployment: Deployment;
  let a: KMSClient;
  let b: KMSClient;
  let admin: HsmKmsClient;

  beforeAll(async () => {
    postgres = startPostgres();
    deployment = await startDeployment({ nodes: 2, postgres, args: ['--scheduler-interval', '1'] });
    a = kmsAt(deployment.nodes[0]!, deployment.region, deployment.credentials);
    b = kmsAt(deployment.nodes[1]!, deployment.region, deployment.credentials);
    admin = new HsmKmsClient({ endpoint: deployment.nodes[0]!.endpoint, region: deployment.region, credentials: deployment.credentials });
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await deployment?.close();
    postgres?.stop();
  });

  describe('the store flags', () => {
    it('refuses a store URL that carries a password, without repeating it', async () => {
      const error = (await hsmkms(['serve', '--store', 'postgres://kms:hunter2secret@db.example/kms', ...testTokenArgs()]).catch((e: unknown) => e)) as {
        code: number;
        stderr: string;
      };
      expect(error.code).not.toBe(0);
      expect(error.stderr).toMatch(/carries a password.*PGPASSWORD or ~\/\.pgpass/);
      expect(error.stderr).not.toContain('hunter2secret');
      const schema = (await hsmkms(['serve', '--store-schema', 'x', ...testTokenArgs()]).catch((e: unknown) => e)) as { stderr: string };
      expect(schema.stderr).toMatch(/--store-schema needs a PostgreSQL store/);
    });

    it('migrated the shared schema once for two nodes started together', async () => {
      const client = new pg.Client({ connectionString: postgres.connectionString });
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string }>(`select name from ${deployment.store.schema}.kysely_migration order by name`);
        const names = rows.map((r) => r.name);
        expect(names).toContain('0008-change-feed');
        expect(new Set(names).size).toBe(names.length);
        const { rows: triggers } = await client.query<{ n: string }>(
          `select count(*) as n from information_schema.triggers where trigger_schema = $1 and trigger_name like 'hsmkms_notify_%'`,
          [deployment.store.schema],
        );
        expect(Number(triggers[0]!.n)).toBeGreaterThan(0);
      } finally {
        await client.end();
      }
    });

    it('lets the offline CLI work on the same store (HSMKMS_STORE_URL / --store)', async () => {
      const name = `cli${Date.now().toString(36)}`;
      await hsmkms(['principal', 'create', name, '--data-dir', deployment.dataDir, ...testTokenArgs()], deployment.env);
      const listed = await hsmkms(
        ['principal', 'list', '--data-dir', deployment.dataDir, '--store', deployment.store.url, '--store-schema', deployment.store.schema, ...testTokenArgs()],
        { HSMKMS_STORE_URL: '', HSMKMS_STORE_SCHEMA: '' },
      );
      expect(listed.stdout).toContain(`user/${name}`);
      // The nodes see it: the principal exists for the API on node B.
      const other = new HsmKmsClient({ endpoint: deployment.nodes[1]!.endpoint, region: deployment.region, credentials: deployment.credentials });
      expect(await other.call('GetPrincipal', { UserName: name })).toMatchObject({ Principal: expect.objectContaining({ Arn: expect.stringContaining(name) }) });
    });
  });

  describe('cache coherence across nodes', () => {
    const delays: Record<string, number[]> = { 'key disabled': [], 'grant revoked': [], 'policy changed': [], 'access key deleted': [] };
    let app: { arn: string; credentials: Credentials };
    const ROUNDS = 5;

    beforeAll(async () => {
      const out = await admin.call('CreatePrincipal', { UserName: `app${Date.now().toString(36)}` });
      app = { arn: out.Arn as string, credentials: { accessKeyId: out.AccessKeyId as string, secretAccessKey: out.SecretAccessKey as string } };
    });

    afterAll(() => {
      const all = Object.values(delays).flat();
      if (all.length === 0) return;
      const lines = Object.entries(delays).map(([what, d]) => `  ${what}: max ${Math.max(...d).toFixed(1)} ms over ${d.length}`);
      console.log(
        `cross-node refusal delay (change acknowledged on A → refused on B), ${all.length} samples: ` +
          `p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms, max ${Math.max(...all).toFixed(1)} ms\n${lines.join('\n')}`,
      );
    });

    it('refuses a key disabled on A at once on A and within the bound on B', async () => {
      for (let i = 0; i < ROUNDS; i++) {
        const keyId = (await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await a.send(new DisableKeyCommand({ KeyId: keyId }));
        const probe = () => b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        const delay = delayUntilRefused(probe, 'DisabledException');
        expect(await outcome(a.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })))).toBe('DisabledException');
        delays['key disabled']!.push(await delay);
      }
      expect(Math.max(...delays['key disabled']!)).toBeLessThan(5_000);
    });

    it('refuses a grant revoked on A within the bound on B', async () => {
      const appOnA = kmsAt(deployment.nodes[0]!, deployment.region, app.credentials);
      const appOnB = kmsAt(deployment.nodes[1]!, deployment.region, app.credentials);
      for (let i = 0; i < ROUNDS; i++) {
        const keyId = (await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
        const { GrantId } = await a.send(new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: app.arn, Operations: ['Encrypt'] }));
        await appOnB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await a.send(new RevokeGrantCommand({ KeyId: keyId, GrantId }));
        const delay = delayUntilRefused(() => appOnB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })), 'AccessDeniedException');
        expect(await outcome(appOnA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })))).toBe('AccessDeniedException');
        delays['grant revoked']!.push(await delay);
      }
      expect(Math.max(...delays['grant revoked']!)).toBeLessThan(5_000);
    });

    it('refuses what a key policy changed on A no longer allows, within the bound on B', async () => {
      const appOnA = kmsAt(deployment.nodes[0]!, deployment.region, app.credentials);
      const appOnB = kmsAt(deployment.nodes[1]!, deployment.region, app.credentials);
      const allowApp = { Sid: 'App', Effect: 'Allow', Principal: { AWS: app.arn }, Action: 'kms:Encrypt', Resource: '*' };
      for (let i = 0; i < ROUNDS; i++) {
        const keyId = (await a.send(new CreateKeyCommand({ Policy: policy(ACCOUNT_ADMIN, allowApp) }))).KeyMetadata!.KeyId!;
        await appOnB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await a.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: policy(ACCOUNT_ADMIN) }));
        const delay = delayUntilRefused(() => appOnB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })), 'AccessDeniedException');
        expect(await outcome(appOnA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })))).toBe('AccessDeniedException');
        delays['policy changed']!.push(await delay);
      }
      expect(Math.max(...delays['policy changed']!)).toBeLessThan(5_000);
    });

    it('refuses an access key deleted on A within the bound on B', async () => {
      const allowApp = { Sid: 'App', Effect: 'Allow', Principal: { AWS: app.arn }, Action: 'kms:Encrypt', Resource: '*' };
      const keyId = (await a.send(new CreateKeyCommand({ Policy: policy(ACCOUNT_ADMIN, allowApp) }))).KeyMetadata!.KeyId!;
      const userName = app.arn.split('/').pop()!;
      for (let i = 0; i < ROUNDS; i++) {
        const created = (await admin.call('CreateAccessKey', { UserName: userName })).AccessKey as { AccessKeyId: string; SecretAccessKey: string };
        const credentials = { accessKeyId: created.AccessKeyId, secretAccessKey: created.SecretAccessKey };
        const onA = kmsAt(deployment.nodes[0]!, deployment.region, credentials);
        const onB = kmsAt(deployment.nodes[1]!, deployment.region, credentials);
        await onB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await onA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await admin.call('DeleteAccessKey', { UserName: userName, AccessKeyId: created.AccessKeyId });
        const delay = delayUntilRefused(() => onB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })), 'UnrecognizedClientException');
        expect(await outcome(onA.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })))).toBe('UnrecognizedClientException');
        delays['access key deleted']!.push(await delay);
      }
      expect(Math.max(...delays['access key deleted']!)).toBeLessThan(5_000);
    });
  });

  it('still refuses a disabled key on B when B lost its LISTEN connection, and listens again', async () => {
    const keyId = (await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    const client = new pg.Client({ connectionString: postgres.connectionString });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'hsmkms-changes'`,
      );
      expect(rows[0]!.n).toBe(2);
    } finally {
      await client.end();
    }
    await a.send(new DisableKeyCommand({ KeyId: keyId }));
    const delay = await delayUntilRefused(() => b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })), 'DisabledException');
    expect(delay).toBeLessThan(5_000);
    for (const node of deployment.nodes)
      await expect.poll(() => /change feed reconnected/.test(node.output()), { timeout: 15_000, interval: 100 }).toBe(true);
  });

  it('serves key use from its caches: no database read per Encrypt, also on the node running the scheduler', async () => {
    // The node that runs the scheduled work (every second here) writes to the store all the
    // time; its bookkeeping must not empty its read caches.
    await expect.poll(() => deployment.nodes.filter((n) => /this node now runs the scheduled work/.test(n.output())).length, { timeout: 15_000 }).toBe(1);
    const leader = deployment.nodes.find((n) => /this node now runs the scheduled work/.test(n.output()))!;
    const other = deployment.nodes.find((n) => n !== leader)!;
    const b = kmsAt(leader, deployment.region, deployment.credentials);
    const a = kmsAt(other, deployment.region, deployment.credentials);
    const keyId = (await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    const client = new pg.Client({ connectionString: postgres.connectionString });
    await client.connect();
    try {
      // Reads of the rows an Encrypt needs (its key version, the caller's principal, roles and
      // access key), by the tables' scan counters; the nodes' background work reads none of them.
      const scans = async () => {
        await client.query('select pg_stat_clear_snapshot()');
        const { rows } = await client.query<{ n: string }>(
          `select coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) as n from pg_stat_user_tables
           where schemaname = $1 and relname in ('key_versions', 'principals', 'principal_roles', 'access_keys')`,
          [deployment.store.schema],
        );
        return Number(rows[0]!.n);
      };
      // A server process publishes its counters within about 10 s of going idle (PGSTAT_IDLE_INTERVAL).
      const settle = () => new Promise((r) => setTimeout(r, 11_000));
      await settle();
      const before = await scans();
      const CALLS = 100;
      // Spread over 5 s or more, so that the scheduler passes several times meanwhile.
      for (let i = 0; i < CALLS; i++) {
        await b.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
        await new Promise((r) => setTimeout(r, 50));
      }
      await settle();
      const read = (await scans()) - before;
      console.log(`${CALLS} Encrypt calls on one node with warm caches: ${read} scans of key_versions, principals, principal_roles, access_keys`);
      expect(read).toBeLessThan(CALLS / 10);
      // The counters do count: keys node B has not seen yet are read (so the check above is not vacuous).
      const cold = [];
      for (let i = 0; i < 10; i++) cold.push((await a.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
      await settle();
      const beforeCold = await scans();
      for (const id of cold) await b.send(new EncryptCommand({ KeyId: id, Plaintext: plaintext }));
      await expect.poll(async () => (await scans()) - beforeCold, { timeout: 15_000, interval: 500 }).toBeGreaterThanOrEqual(cold.length);
    } finally {
      await client.end();
    }
  });

  describe('the scheduler', () => {
    const LEADER = /this node now runs the scheduled work/;
    const leaders = () => deployment.nodes.filter((n) => n.alive && LEADER.test(n.output()));

    it('runs on exactly one node, and on another once that one is killed under load, which loses nothing acknowledged', async () => {
      await expect.poll(() => leaders().length, { timeout: 15_000, interval: 200 }).toBe(1);
      // Several passes later, still one.
      await new Promise((r) => setTimeout(r, 3_000));
      expect(leaders()).toHaveLength(1);
      const leader = leaders()[0]!;
      const follower = deployment.nodes.find((n) => n !== leader)!;

      // Clients through the load balancer, each with one call in flight at a time.
      const balanced = kmsAt(deployment.endpoint, deployment.region, deployment.credentials);
      const CLIENTS = 4;
      const acknowledged: string[] = [];
      const failures: string[] = [];
      let running = true;
      const loops = Array.from({ length: CLIENTS }, async () => {
        while (running) {
          try {
            const keyId = (await balanced.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
            acknowledged.push(keyId);
            await balanced.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
          } catch (error) {
            failures.push((error as Error).name);
          }
        }
      });
      await expect.poll(() => acknowledged.length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(5);
      await leader.kill();
      const atKill = acknowledged.length;
      await expect.poll(() => acknowledged.length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(atKill + 5);
      running = false;
      await Promise.all(loops);

      // Only what was in flight when the node died may have failed; everything acknowledged is there.
      expect(failures.length, failures.join(', ')).toBeLessThanOrEqual(CLIENTS * 2);
      const survivor = kmsAt(follower, deployment.region, deployment.credentials);
      for (const keyId of acknowledged) await survivor.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));

      // The survivor takes over the scheduled work.
      await expect.poll(() => LEADER.test(follower.output()), { timeout: 20_000, interval: 200 }).toBe(true);
    });
  });
});

describe.skipIf('missing' in found)('scale-out: PostgreSQL stopped under a node', () => {
  let postgres: TestPostgres;
  let deployment: Deployment;

  beforeAll(async () => {
    postgres = startPostgres();
    deployment = await startDeployment({ nodes: 1, postgres });
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await deployment?.close();
    postgres?.stop();
  });

  const health = async (endpoint: string) => (await fetch(`${endpoint}/health`)).status;

  it('answers 503 on /health and retryable errors while the store is down, and recovers without a restart', async () => {
    const node = deployment.nodes[0]!;
    const kms = kmsAt(node, deployment.region, deployment.credentials);
    const keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    expect(await health(node.endpoint)).toBe(200);

    postgres.halt!();
    try {
      await expect.poll(() => health(node.endpoint), { timeout: 10_000, interval: 200 }).toBe(503);
      const body = await (await fetch(`${node.endpoint}/health`)).text();
      // The reason goes to the node's log, not to whoever asks.
      expect(JSON.parse(body)).toEqual({ status: 'unavailable' });
      for (const call of [
        () => kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })),
        () => kms.send(new CreateKeyCommand({})),
      ]) {
        const started = performance.now();
        const error = (await call().catch((e: unknown) => e)) as { name: string; $metadata?: { httpStatusCode?: number }; message: string };
        expect(['KMSInternalException', 'DependencyTimeoutException']).toContain(error.name);
        expect(error.message).not.toMatch(/postgres|ECONN|ENOENT|socket/i);
        // Bounded by the request deadline (30 s by default), and in practice by the connect timeout.
        expect(performance.now() - started).toBeLessThan(30_000);
      }
    } finally {
      postgres.resume!();
    }
    await expect.poll(() => health(node.endpoint), { timeout: 20_000, interval: 200 }).toBe(200);
    await expect
      .poll(() => outcome(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))), { timeout: 10_000, interval: 200 })
      .toBeUndefined();
    expect(node.alive).toBe(true);
  });
});
