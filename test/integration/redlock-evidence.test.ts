import Redlock from 'redlock';
import { connectTestRedis } from '../support/harness';
import { TEST_REDIS_URL, createKeyPrefix } from '../support/services';

/**
 * Why crm-worker does not use the design's `redlock` package (README, "Locks"): its npm
 * latest, 4.2.0, drives Redis through the callback API of node-redis v3 and cannot take a lock
 * through the node-redis client this project uses. Kept as a test so the decision is re-checked
 * whenever either package moves.
 */
describe('redlock 4.2.0 with node-redis v5', () => {
  const keys = createKeyPrefix();
  afterAll(() => keys.removeKeys());

  it('cannot acquire a lock', async () => {
    const client = await connectTestRedis(TEST_REDIS_URL);
    try {
      const redlock = new Redlock([client as never], { retryCount: 0 });
      await expect(redlock.lock(`${keys.prefix}lock:evidence`, 1_000)).rejects.toThrow(/evalsha is not a function/);
      expect(await client.exists(`${keys.prefix}lock:evidence`)).toBe(0);
    } finally {
      await client.quit();
    }
  });
});
