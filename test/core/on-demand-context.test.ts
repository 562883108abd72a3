import { describe, expect, it } from 'vitest';
import { OnDemandContext } from '../../src/core/on-demand-context.js';

describe('OnDemandContext', () => {
  it('gives a run and everything it awaits its store, and nothing outside a run', async () => {
    const context = new OnDemandContext<string>();
    expect(context.getStore()).toBeUndefined();
    const seen = await context.run('a', async () => {
      const before = context.getStore();
      await new Promise((resolve) => setTimeout(resolve, 1));
      const inner = await context.run('b', async () => context.getStore());
      return [before, context.getStore(), inner];
    });
    expect(seen).toEqual(['a', 'a', 'b']);
    expect(context.getStore()).toBeUndefined();
  });

  it('keeps concurrent runs apart, and stays on until the last one ends', async () => {
    const context = new OnDemandContext<number>();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const long = context.run(1, async () => {
      await held;
      return context.getStore();
    });
    expect(await context.run(2, async () => context.getStore())).toBe(2);
    release();
    expect(await long).toBe(1);
    expect(context.getStore()).toBeUndefined();
  });

  it('ends a run that throws or rejects, and passes the error on', async () => {
    const context = new OnDemandContext<number>();
    await expect(context.run(1, async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(() =>
      context.run(2, () => {
        throw new Error('at once');
      }),
    ).toThrow('at once');
    // Both runs counted as ended: a new run works and leaves nothing behind.
    expect(await context.run(3, async () => context.getStore())).toBe(3);
    expect(context.getStore()).toBeUndefined();
  });
});
