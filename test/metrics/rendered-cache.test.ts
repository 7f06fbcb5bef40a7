import { RenderedCache } from '../../src/metrics/rendered-cache';

describe('RenderedCache (the /metrics exposition kept for a short time)', () => {
  /** A render whose answers the test releases one by one. */
  function controlledRender() {
    const pending: Array<{ resolve: (text: string) => void; reject: (err: Error) => void }> = [];
    return {
      render: () => new Promise<string>((resolve, reject) => pending.push({ resolve, reject })),
      calls: () => pending.length,
      answer: (i: number, text: string) => pending[i]!.resolve(text),
      fail: (i: number, err: Error) => pending[i]!.reject(err),
    };
  }

  it('serves the same text within the time to live and renders again after it', async () => {
    let now = 1_000;
    let renders = 0;
    const cache = new RenderedCache(async () => `render ${++renders}`, { ttlMs: 1_000, waitForFreshMs: 10_000, now: () => now });
    expect(await cache.get()).toBe('render 1');
    now += 999;
    expect(await cache.get()).toBe('render 1');
    expect(renders).toBe(1);
    now += 1;
    // A working render is waited for: a lone scraper gets fresh figures.
    expect(await cache.get()).toBe('render 2');
    expect(renders).toBe(2);
  });

  it('lets concurrent first callers share one render', async () => {
    const r = controlledRender();
    const cache = new RenderedCache(r.render, { ttlMs: 1_000, waitForFreshMs: 10_000, now: () => 0 });
    const first = cache.get();
    const second = cache.get();
    r.answer(0, 'shared');
    expect(await Promise.all([first, second])).toEqual(['shared', 'shared']);
    expect(r.calls()).toBe(1);
  });

  it('while a refresh hangs, answers with the previous text instead of waiting for it', async () => {
    let now = 0;
    const r = controlledRender();
    const cache = new RenderedCache(r.render, { ttlMs: 1_000, waitForFreshMs: 1, now: () => now });
    const first = cache.get();
    r.answer(0, 'before the hang');
    expect(await first).toBe('before the hang');
    now += 5_000;
    // The refresh never answers (a collector waiting on a hung database).
    expect(await cache.get()).toBe('before the hang');
    expect(await cache.get()).toBe('before the hang');
    expect(r.calls()).toBe(2); // one refresh in flight, not one per caller
    r.answer(1, 'after the hang');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await cache.get()).toBe('after the hang');
  });

  it('a failed render is not kept: with nothing to fall back on it fails, and the next caller tries again', async () => {
    const r = controlledRender();
    const cache = new RenderedCache(r.render, { ttlMs: 1_000, waitForFreshMs: 10_000, now: () => 0 });
    const first = cache.get();
    r.fail(0, new Error('collect failed'));
    await expect(first).rejects.toThrow('collect failed');
    const second = cache.get();
    r.answer(1, 'recovered');
    expect(await second).toBe('recovered');
  });
});
