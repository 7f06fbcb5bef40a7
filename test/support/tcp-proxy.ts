import net from 'node:net';

/**
 * pass: forward both ways. blackhole: swallow requests (the service looks hung).
 * drop-replies: forward requests but swallow the answers — the command runs, the client never
 * learns it did. refuse: cut every connection and every new one at once (the service is down:
 * clients fail fast instead of waiting).
 */
export type ProxyMode = 'pass' | 'blackhole' | 'drop-replies' | 'refuse';

/**
 * A loopback TCP proxy in front of a real service. In 'blackhole' mode it keeps connections
 * open and swallows what the client sends: the service looks hung, exactly what a deadline
 * must survive. Nothing is faked about the service itself.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  let mode: ProxyMode = 'pass';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    sockets.add(client);
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    client.on('data', (chunk) => {
      if (mode !== 'blackhole') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (mode === 'pass') client.write(chunk);
      // After dropped replies the client's reply stream is out of step: cut it so it reconnects.
      else if (mode === 'drop-replies') client.destroy();
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (scheme: string) => `${scheme}://127.0.0.1:${port}`,
    setMode(next: ProxyMode) {
      mode = next;
      if (next === 'refuse') for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
