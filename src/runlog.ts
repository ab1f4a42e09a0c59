/**
 * The full log of one command run: $EBPF_LAB_HOME/logs/<time>-<command>-<pid>.log, 0600 in a
 * 0700 directory. It holds every line the run printed (stdout and stderr, colours and
 * spinner frames removed) plus lines only the log gets (progress, full diffs), each with the
 * seconds since the start. The lab's secrets are masked. The file is created at its first
 * line: bad input refused before anything happened leaves no log.
 */
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { labHome } from './state.js';
import { redactUrls } from './redact.js';

export interface RunLog {
  /** Where the log is (or will be, once a line is written). */
  readonly path: string;
  /** True once the file exists. */
  readonly written: boolean;
  /** A line for the log only. */
  line(text: string): void;
  /** Copies what the process writes to stdout and stderr into the log, until detach(). */
  attach(): void;
  detach(): void;
}

export const logDir = (): string => join(labHome(), 'logs');

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07/g;

/** Secret values kept under $EBPF_LAB_HOME/secrets, re-read when that directory changes. */
function secretMasker(): (s: string) => string {
  const dir = join(labHome(), 'secrets');
  let stamp = -1;
  let values: string[] = [];
  return (s) => {
    let m = -2;
    try {
      m = statSync(dir).mtimeMs;
    } catch {
      /* no secrets yet */
    }
    if (m !== stamp) {
      stamp = m;
      values = [];
      if (m !== -2)
        for (const f of readdirSync(dir)) {
          try {
            const v = readFileSync(join(dir, f), 'utf8').trim();
            if (v.length >= 6) values.push(v);
          } catch {
            /* unreadable: skip */
          }
        }
    }
    for (const v of values) s = s.split(v).join('********');
    return s;
  };
}

export function startRunLog(command: string, argv: string[], version: string): RunLog {
  const t0 = performance.now();
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const path = join(logDir(), `${stamp}-${command.replace(/\s+/g, '-')}-${process.pid}.log`);
  const mask = secretMasker();
  let written = false;
  const append = (text: string) => {
    if (written) return appendFileSync(path, text);
    // The first line creates the file; on a full disk nothing is left behind (no empty log).
    const made = !existsSync(logDir());
    try {
      mkdirSync(logDir(), { recursive: true, mode: 0o700 });
      chmodSync(logDir(), 0o700);
      appendFileSync(
        path,
        `# ebpf-lab ${version}: ${redactUrls(['ebpf-lab', ...argv].join(' '))}\n# started ${new Date().toISOString()}\n${text}`,
        { mode: 0o600 },
      );
      chmodSync(path, 0o600);
    } catch (e) {
      rmSync(path, { force: true });
      if (made)
        try {
          rmdirSync(logDir()); // only when still empty
        } catch {
          /* another run's log is in it */
        }
      throw e;
    }
    written = true;
  };
  const line = (text: string) => {
    const secs = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
    try {
      append(
        mask(redactUrls(text))
          .split('\n')
          .map((l) => `[${secs}s] ${l}\n`)
          .join(''),
      );
    } catch {
      /* a full disk must not stop the run */
    }
  };
  // Partial lines per stream; a carriage return (spinner redraw) discards what came before it.
  const pending = { stdout: '', stderr: '' };
  const feed = (stream: 'stdout' | 'stderr', chunk: unknown) => {
    const text = (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8')).replace(
      ANSI,
      '',
    );
    let buf = pending[stream] + text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const shown = l.slice(l.lastIndexOf('\r') + 1);
      if (shown.trim() !== '') line(shown);
    }
    pending[stream] = buf.slice(buf.lastIndexOf('\r') + 1);
  };
  const originals: { stream: NodeJS.WriteStream; write: NodeJS.WriteStream['write'] }[] = [];
  return {
    path,
    get written() {
      return written;
    },
    line,
    attach() {
      for (const [name, stream] of [
        ['stdout', process.stdout],
        ['stderr', process.stderr],
      ] as const) {
        const write = stream.write;
        originals.push({ stream, write });
        stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
          feed(name, chunk);
          return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
        } as NodeJS.WriteStream['write'];
      }
    },
    detach() {
      for (const { stream, write } of originals.splice(0).reverse()) stream.write = write;
      for (const name of ['stdout', 'stderr'] as const) {
        if (pending[name].trim()) line(pending[name]);
        pending[name] = '';
      }
    },
  };
}
