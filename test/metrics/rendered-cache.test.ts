import { RenderedCache } from '../../src/metrics/rendered-cache';

describe('RenderedCache (the /metrics exposition kept for a short time)', () => {
  function counterRender() {
    let renders = 0;
    return {
      render: async () => `render ${++renders}`,
      renders: () => renders,
    };
  }

  it('serves the same text within the time to live and renders again after it', async () => {
    let now = 1_000;
    const source = counterRender();
    const cache = new RenderedCache(source.render, 1_000, () => now);
    expect(await cache.get()).toBe('render 1');
    now += 999;
    expect(await cache.get()).toBe('render 1');
    expect(source.renders()).toBe(1);
    now += 1;
    expect(await cache.get()).toBe('render 2');
    expect(source.renders()).toBe(2);
  });

  it('lets concurrent callers share one render in flight', async () => {
    let release!: (text: string) => void;
    let renders = 0;
    const cache = new RenderedCache(
      () => {
        renders++;
        return new Promise<string>((resolve) => (release = resolve));
      },
      1_000,
      () => 0,
    );
    const first = cache.get();
    const second = cache.get();
    release('shared');
    expect(await Promise.all([first, second])).toEqual(['shared', 'shared']);
    expect(renders).toBe(1);
  });

  it('does not keep a failed render: the next caller tries again', async () => {
    let fail = true;
    const cache = new RenderedCache(
      async () => {
        if (fail) throw new Error('collect failed');
        return 'recovered';
      },
      1_000,
      () => 0,
    );
    await expect(cache.get()).rejects.toThrow('collect failed');
    fail = false;
    expect(await cache.get()).toBe('recovered');
  });
});
