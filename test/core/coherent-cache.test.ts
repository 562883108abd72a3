/** CoherentCache: entries leave on the bus's changes, on a reset, and when they are older than `ttlMs`. */
import { describe, expect, it } from 'vitest';
import { CoherentCache, LocalInvalidationBus } from '../../src/core/invalidation.js';

describe('CoherentCache', () => {
  it('serves an entry until ttlMs has passed, then loads it again', async () => {
    let now = 1_000;
    let loads = 0;
    const load = async () => `v${++loads}`;
    const cache = new CoherentCache<string>({ bus: new LocalInvalidationBus(), capacity: 10, topics: ['key'], ttlMs: 100, now: () => now });
    expect(await cache.get('k', '', load)).toBe('v1');
    now += 100 - 1;
    expect(await cache.get('k', '', load)).toBe('v1');
    now += 1;
    expect(await cache.get('k', '', load)).toBe('v2');
    expect(cache.size).toBe(1);
    now += 99;
    expect(await cache.get('k', '', load)).toBe('v2');
  });

  it('keeps entries without ttlMs until a change drops their group', async () => {
    const bus = new LocalInvalidationBus();
    let loads = 0;
    const load = async () => `v${++loads}`;
    const cache = new CoherentCache<string>({ bus, capacity: 10, topics: ['key'], now: () => Number.MAX_SAFE_INTEGER });
    expect(await cache.get('k', 'a', load)).toBe('v1');
    expect(await cache.get('k', 'a', load)).toBe('v1');
    bus.publish('key', 'k');
    expect(await cache.get('k', 'a', load)).toBe('v2');
    bus.publish('key', undefined);
    expect(await cache.get('k', 'a', load)).toBe('v3');
  });

  it('peek answers only what get would serve without loading: nothing missing, expired, dropped or while incoherent', async () => {
    const bus = new LocalInvalidationBus();
    let now = 1_000;
    const cache = new CoherentCache<string>({ bus, capacity: 10, topics: ['key'], ttlMs: 100, now: () => now });
    expect(cache.peek('k', '')).toBeUndefined();
    await cache.get('k', '', async () => 'v1');
    expect(cache.peek('k', '')).toBe('v1');
    bus.coherent = false;
    expect(cache.peek('k', '')).toBeUndefined();
    bus.coherent = true;
    now += 100;
    expect(cache.peek('k', '')).toBeUndefined();
    expect(cache.size).toBe(0);
    await cache.get('k', '', async () => 'v2');
    bus.publish('key', 'k');
    expect(cache.peek('k', '')).toBeUndefined();
  });
});
