/** Tests that run against a throwaway PostgreSQL server (postgres-server.ts), skipped without one. */
import { afterAll, beforeAll, describe } from 'vitest';
import { findPostgres, startPostgres, type TestPostgres } from './postgres-server.js';

/**
 * A `describe` block with a PostgreSQL server started for it (stopped after it), skipped when
 * there is none; `body` gets the server's connection string when its hooks and tests run.
 */
export function describeWithPostgres(name: string, body: (connectionString: () => string) => void): void {
  describe.skipIf('missing' in findPostgres())(name, () => {
    let server: TestPostgres | undefined;
    beforeAll(() => {
      server = startPostgres();
    }, 60_000);
    afterAll(() => server?.stop());
    body(() => server!.connectionString);
  });
}
