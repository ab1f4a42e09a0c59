import type { Transport } from '../transports/transport.js';

/**
 * `host`, counting its round trips: every exec, put and get is one command sent and one
 * answer awaited (over ssh, one session channel each).
 */
export function countRoundTrips(inner: Transport): { host: Transport; count: () => number } {
  let n = 0;
  const host: Transport = {
    name: inner.name,
    exec: (cmd, opts) => (n++, inner.exec(cmd, opts)),
    put: (path, content, opts) => (n++, inner.put(path, content, opts)),
    get: (path) => (n++, inner.get(path)),
    close: () => inner.close(),
    sever: inner.sever ? () => inner.sever?.() : undefined,
  };
  return { host, count: () => n };
}
