/**
 * Free TCP ports for tests that must name a port before anything listens on it (a child process's
 * `--port`, an address nothing answers on).
 */
import net from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago: the kernel picks one for a throwaway server,
 * which is closed again before the port is returned. Nothing listens on it afterwards, so it also
 * serves as an address that refuses connections; another process may take it in between, as
 * with any such port.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
