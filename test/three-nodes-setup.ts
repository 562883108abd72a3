/**
 * Global set-up of the `three-nodes` project (vitest.config.ts): one PostgreSQL server for the
 * project's deployments (each in a schema of its own, test/support/deployment.ts) and one
 * directory for their data and for the record of their `hsmkms serve` processes. Teardown ends
 * any node a test left running (a worker that died, a failed set-up), stops the server and
 * removes the directory: a run leaks no process and no temporary directory, failed or not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findPostgres, startPostgres } from './store/postgres-server.js';
import { HSMKMS_BIN } from './support/cli.js';
import { killRegistered } from './support/node-registry.js';
import type { ThreeNodesProject } from './support/deployment.js';

export default function setup(project: TestProject): () => void {
  // As the other PostgreSQL tests do when there is none (npm test's set-up installs it): say so,
  // and the project's suites fail with that reason; the other projects run on.
  const found = findPostgres();
  if ('missing' in found) {
    console.warn(`three-nodes: no deployment can start: ${found.missing}`);
    return () => undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-three-nodes-'));
  let postgres: ReturnType<typeof startPostgres>;
  try {
    postgres = startPostgres();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const provided: ThreeNodesProject = { postgresUrl: postgres.connectionString, dir, nodesDir: join(dir, 'nodes') };
  project.provide('threeNodes', provided);
  return () => {
    try {
      const leftover = killRegistered(provided.nodesDir, HSMKMS_BIN);
      if (leftover > 0) console.warn(`three-nodes: ended ${leftover} hsmkms serve process(es) a test left running`);
    } finally {
      try {
        postgres.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  };
}
