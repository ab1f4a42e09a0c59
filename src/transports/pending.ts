import type { Transport } from './transport.js';

/** A transport still being opened (see {@link pendingTransport}). */
export interface PendingTransport {
  /** The transport to be, under the name it will have: its commands wait until it is open. */
  host: Transport;
  /** Hands over the open transport: the waiting commands go to it, and later ones go straight to it. */
  settle(open: Transport): void;
  /** Resolves once it is settled (never, when it is not). */
  opened: Promise<unknown>;
}

/**
 * A transport whose connection is still being made, for work that can start before it is
 * open: a run computes what it will ask the host while the ssh handshake goes on, and its
 * first command goes out the moment the connection is ready. A pending transport that is
 * never settled (the connection failed, or opened under another name) runs nothing: its
 * commands wait for ever, and whatever waits on them is dropped with it. Closing it closes
 * nothing: the opener closes what it opened.
 */
export function pendingTransport(name: string): PendingTransport {
  let open: Transport | undefined;
  let settle!: (t: Transport) => void;
  const opened = new Promise<Transport>((r) => (settle = r));
  const host: Transport = {
    name,
    exec: (cmd, o) => (open ? open.exec(cmd, o) : opened.then((t) => t.exec(cmd, o))),
    put: (p, c, o) => (open ? open.put(p, c, o) : opened.then((t) => t.put(p, c, o))),
    get: (p) => (open ? open.get(p) : opened.then((t) => t.get(p))),
    close: async () => {},
    sever: () => open?.sever?.(),
  };
  return {
    host,
    opened,
    settle(t) {
      if (t.name !== name) throw new Error(`pending transport ${name} settled with ${t.name}`);
      open = t;
      settle(t);
    },
  };
}
