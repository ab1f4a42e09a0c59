import type { Readable } from 'node:stream';

/**
 * The one interface steps use to reach a host. Implementations: ssh (ssh2, one
 * connection per host for the whole run), local (child_process) and fake (scripted, for tests).
 */
export interface ExecOptions {
  /** Run as root: `sudo -n` when the login user is not root. */
  sudo?: boolean;
  /** Extra environment, passed as `env K=V` so sshd's AcceptEnv does not matter. */
  env?: Record<string, string>;
  /** Bytes written to the command's stdin; a stream is piped (stdin ends when it ends). */
  input?: string | Buffer | Readable;
  timeoutMs?: number;
  /** Return a failed result instead of throwing CommandError. */
  nothrow?: boolean;
  /** Called with each chunk of stdout/stderr as it arrives (for progress). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface CommandResult {
  /** The command as run (argv joined and quoted, or the script). */
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface PutOptions {
  mode?: number;
  owner?: string;
  group?: string;
  /**
   * A command that validates the uploaded temp file before it replaces the target;
   * `{}` in the argv is replaced by the temp path. A failure leaves the old file.
   */
  validate?: string[];
}

/** A command is an argv (quoted by the transport) or a POSIX sh script. */
export type Command = string[] | { script: string };

export interface Transport {
  /** Human name of the host, for messages ("root@127.0.0.1:2230", "local"). */
  readonly name: string;
  exec(cmd: Command, opts?: ExecOptions): Promise<CommandResult>;
  /** Atomic upload: temp file in the same directory, validate, fsync, rename. */
  put(path: string, content: string | Buffer, opts?: PutOptions): Promise<void>;
  get(path: string): Promise<Buffer>;
  close(): Promise<void>;
  /**
   * Drops the connection at once, with no goodbye to the host, as a network failure would
   * (fault injection uses it): commands in flight and later ones fail. Optional.
   */
  sever?(): void;
}
