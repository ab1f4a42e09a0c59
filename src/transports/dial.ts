import { connect, type Socket } from 'node:net';

/**
 * A TCP connection to an ssh server, opened before the ssh library is loaded: the server
 * starts its side of the session (sshd forks and starts a process per connection) while the
 * library loads, instead of after. connectSsh takes it as `sock`. A dial that failed is
 * simply not used (connectSsh connects itself and reports the failure as it always did), so
 * its error is kept, never thrown.
 */
export interface Dialled {
  sock: Socket;
  /** The socket's error, if it had one before it was handed over. */
  failed(): boolean;
}

export function dial(host: string, port: number): Dialled {
  let failed = false;
  const sock = connect({ host, port });
  sock.on('error', () => (failed = true));
  sock.setNoDelay(true);
  // Until connectSsh takes it (and refs it), it never keeps this process alive: a run that
  // stops before connecting (a refused key, bad input) exits as it would without it.
  sock.unref();
  return { sock, failed: () => failed || sock.destroyed };
}
