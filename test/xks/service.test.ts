/**
 * XksProxy's time bounds, with a key manager that never answers (the SoftHSM paths are in
 * test/http/xks-proxy.test.ts): a call to the HSM ends in DependencyTimeoutException after
 * `hsmTimeoutMs`, and GetHealthStatus answers UNAVAILABLE rather than wait for a stuck check.
 */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports.js';
import { XksError } from '../../src/xks/errors.js';
import { XksProxy, type XksKeys } from '../../src/xks/service.js';

const never = <T>() => new Promise<T>(() => undefined);
const stuck: XksKeys = { describe: never, encrypt: never, decrypt: never, health: never };
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet };
const metadata = { awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice', kmsOperation: 'DescribeKey', kmsRequestId: 'r-1' };

describe('XksProxy time bounds', () => {
  it('answers DependencyTimeoutException when the HSM does not answer in time', async () => {
    const proxy = new XksProxy({ keys: stuck, logger: quiet, hsmTimeoutMs: 50 });
    const started = Date.now();
    const error = await proxy.getKeyMetadata('/p', 'k1', metadata).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(XksError);
    expect(error).toMatchObject({ errorName: 'DependencyTimeoutException', message: 'The HSM did not answer within 50 ms.' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('answers GetHealthStatus UNAVAILABLE when the health check is stuck', async () => {
    const proxy = new XksProxy({ keys: stuck, logger: quiet, hsmTimeoutMs: 50 });
    const status = await proxy.getHealthStatus();
    expect(status.ekmFleetDetails).toStrictEqual([{ id: 'hsm', model: 'unknown', healthStatus: 'UNAVAILABLE' }]);
  });
});
