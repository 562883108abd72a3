/**
 * A scale-out deployment on one machine, as the README describes one: N `hsmkms serve`
 * processes on ports of their own, sharing the run's SoftHSM2 token and one PostgreSQL store
 * (a schema of their own in the test server: test/store/postgres-server.ts), behind a load
 * balancer that sends each request to a random node.
 *
 * The nodes share one data directory, as nodes on one machine can: each writes its own audit
 * chain (`--audit-node-id node-<i>`), and the offline CLI finds the store through
 * HSMKMS_STORE_URL / HSMKMS_STORE_SCHEMA, which the deployment sets for commands run from the
 * test (see {@link Deployment.env}).
 *
 * In the `three-nodes` project (vitest.config.ts, test/three-nodes-setup.ts) the project's
 * PostgreSQL server is the default one, data directories are made in the project's directory and
 * every node is recorded there, so that the project's teardown removes whatever a test left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HSMKMS_BIN, testTokenArgs } from './cli.js';
import { TEST_SETTINGS } from './kms-deps.js';
import { inject } from 'vitest';
import type { TestPostgres } from '../store/postgres-server.js';
import { registerChild } from './node-registry.js';

/** What the `three-nodes` project's global set-up provides to its test files. */
export interface ThreeNodesProject {
  /** The project's PostgreSQL server; each deployment takes a schema of its own in it. */
  postgresUrl: string;
  /** Removed by the project's teardown: deployments' data directories go here. */
  dir: string;
  /** Where live nodes are recorded (test/support/node-registry.ts). */
  nodesDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    threeNodes?: ThreeNodesProject;
  }
}

export interface DeployedNode {
  readonly index: number;
  /** `http://127.0.0.1:<port>` of this node (its port stays the same across restarts). */
  endpoint: string;
  child: ChildProcess;
  /** What it wrote to stdout and stderr (pino JSON lines, progress lines). */
  output(): string;
  /** SIGKILL: no shutdown, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** Starts the node again (after kill or stop) on the same port. */
  restart(): Promise<void>;
  readonly alive: boolean;
}

export interface Deployment {
  /** The load balancer: each request goes to a random live node. */
  endpoint: string;
  nodes: DeployedNode[];
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  dataDir: string;
  postgres: TestPostgres;
  store: { url: string; schema: string };
  /** The environment that points `hsmkms` commands at this deployment's store. */
  env: Record<string, string>;
  /** Requests the load balancer sent to each node. */
  routed: number[];
  close(): Promise<void>;
}

export interface DeploymentOptions {
  nodes?: number;
  /** Extra `hsmkms serve` options for every node. */
  args?: string[];
  /** A server to use (e.g. to stop and start it); default: the `three-nodes` project's. */
  postgres?: TestPostgres;
}

/** The `three-nodes` project's resources, when the test runs in it. */
function threeNodesProject(): ThreeNodesProject | undefined {
  return inject('threeNodes');
}

export async function startDeployment(options: DeploymentOptions = {}): Promise<Deployment> {
  const project = threeNodesProject();
  const postgres = options.postgres ?? (project && { connectionString: project.postgresUrl, stop: () => undefined });
  if (!postgres)
    throw new Error(
      'startDeployment: no PostgreSQL server: pass one (test/store/postgres-server.ts), or run in the three-nodes project, which starts one from Debian `postgresql` or uses HSMKMS_TEST_POSTGRES_URL',
    );
  const schema = `n${process.pid}_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(join(project?.dir ?? tmpdir(), 'hsmkms-nodes-'));
  const credentials = {
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  const env = { HSMKMS_STORE_URL: postgres.connectionString, HSMKMS_STORE_SCHEMA: schema };
  const nodes: DeployedNode[] = [];
  const count = options.nodes ?? 3;
  const starting: Array<Promise<DeployedNode>> = [];
  for (let i = 0; i < count; i++) {
    starting.push(
      startNode(project?.nodesDir, i, [
        '--data-dir', dataDir,
        ...testTokenArgs(),
        '--host', '127.0.0.1',
        '--audit-node-id', `node-${i}`,
        '--log-level', 'info',
        ...(options.args ?? []),
      ], {
        ...env,
        HSMKMS_ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
        HSMKMS_ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      }),
    );
  }
  const started = await Promise.allSettled(starting);
  for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dataDir, { recursive: true, force: true });
    throw (failed as PromiseRejectedResult).reason;
  }
  const balancer = await startBalancer(nodes);
  return {
    endpoint: balancer.endpoint,
    nodes,
    region: TEST_SETTINGS.region,
    credentials,
    dataDir,
    postgres,
    store: { url: postgres.connectionString, schema },
    env,
    routed: balancer.routed,
    async close() {
      await balancer.close();
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `hsmkms serve` and waits for it to listen; `port` 0 picks one (kept for restarts). A
 * node that does not start in time is killed. `registry`: where to record it (node-registry.ts).
 */
async function startNode(registry: string | undefined, index: number, args: string[], env: Record<string, string>): Promise<DeployedNode> {
  let output = '';
  let port = 0;
  let child!: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(process.execPath, [HSMKMS_BIN, 'serve', ...args, '--port', String(port)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (registry) registerChild(registry, child);
    const current = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        current.kill('SIGKILL');
        reject(new Error(`node ${index} did not start:\n${output.slice(-4000)}`));
      }, 90_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output.slice(-2000));
        if (m) {
          clearTimeout(timer);
          port = Number(m[1]);
          resolve();
        }
      };
      current.stdout!.on('data', onData);
      current.stderr!.on('data', onData);
      current.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${index} exited (${signal ?? code}):\n${output.slice(-4000)}`));
      });
    });
  };
  await launch();
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  const waitExit = (c: ChildProcess) => (exited(c) ? Promise.resolve() : new Promise<void>((resolve) => c.once('exit', () => resolve())));
  return {
    index,
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    get child() {
      return child;
    },
    get alive() {
      return !exited(child);
    },
    output: () => output,
    async kill() {
      const c = child;
      c.kill('SIGKILL');
      await waitExit(c);
    },
    async stop() {
      const c = child;
      if (!exited(c)) c.kill('SIGTERM');
      await waitExit(c);
    },
    async restart() {
      await waitExit(child);
      await launch();
    },
  } as DeployedNode;
}

/**
 * The load balancer: an HTTP proxy that sends each request to a random live node, unchanged
 * (the Host header too, so SigV4 signatures still verify). A node that refuses the connection
 * (killed) is skipped for that request, as a load balancer retries a failed connect; a request
 * that reached a node and lost its answer is the client's to retry.
 */
async function startBalancer(nodes: DeployedNode[]): Promise<{ endpoint: string; routed: number[]; close(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const routed = nodes.map(() => 0);
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => forward(Buffer.concat(chunks), shuffled(nodes.filter((n) => n.alive))));
    const forward = (body: Buffer, candidates: DeployedNode[]): void => {
      const node = candidates.shift();
      if (!node) {
        response.writeHead(502).end('no node answered');
        return;
      }
      routed[node.index]!++;
      const upstream = http.request(
        `${node.endpoint}${request.url}`,
        { method: request.method, headers: request.headers, agent },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED' && !response.headersSent) return forward(body, candidates);
        response.destroy();
      });
      upstream.end(body);
    };
  });
  server.keepAliveTimeout = 70_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    routed,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
