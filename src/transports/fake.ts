import { performance } from 'node:perf_hooks';
import { CommandError } from '../errors.js';
import { displayCommand } from './sudo.js';
import type { Command, CommandResult, ExecOptions, PutOptions, Transport } from './transport.js';

export interface FakeRule {
  /** Matched against the command as displayed (argv joined and quoted, or the script). */
  match: RegExp;
  result?: Partial<Pick<CommandResult, 'exitCode' | 'stdout' | 'stderr'>>;
  /** Side effect on the fake host (e.g. mark a package installed). */
  effect?: (command: string) => void;
}

export type FakeCall =
  | { kind: 'exec'; command: string; sudo: boolean; env?: Record<string, string> }
  | { kind: 'put'; path: string; content: string; opts: PutOptions };

/**
 * A scripted transport for unit tests: records every call in order, answers exec
 * from rules (first match wins; default exit 0, no output) and keeps put files in memory.
 */
export class FakeTransport implements Transport {
  readonly name = 'fake-host';
  readonly calls: FakeCall[] = [];
  readonly files = new Map<string, { content: string; mode: number; owner: string; group: string }>();
  constructor(private readonly rules: FakeRule[] = []) {}

  async exec(cmd: Command, opts: ExecOptions = {}): Promise<CommandResult> {
    const t0 = performance.now();
    const command = displayCommand(cmd);
    this.calls.push({ kind: 'exec', command, sudo: Boolean(opts.sudo), env: opts.env });
    const rule = this.rules.find((r) => r.match.test(command));
    rule?.effect?.(command);
    const result: CommandResult = {
      command,
      exitCode: 0,
      stdout: '',
      stderr: '',
      ...rule?.result,
      durationMs: performance.now() - t0,
    };
    if (result.exitCode !== 0 && !opts.nothrow) throw new CommandError(result, this.name);
    return result;
  }

  async put(path: string, content: string | Buffer, opts: PutOptions = {}): Promise<void> {
    const text = typeof content === 'string' ? content : content.toString('utf8');
    this.calls.push({ kind: 'put', path, content: text, opts });
    this.files.set(path, {
      content: text,
      mode: opts.mode ?? 0o644,
      owner: opts.owner ?? 'root',
      group: opts.group ?? 'root',
    });
  }

  async get(path: string): Promise<Buffer> {
    const f = this.files.get(path);
    if (!f) throw new Error(`fake-host: no such file ${path}`);
    return Buffer.from(f.content);
  }

  async close(): Promise<void> {}

  /** The commands run so far, in order (puts shown as `put <path>`). */
  log(): string[] {
    return this.calls.map((c) => (c.kind === 'exec' ? c.command : `put ${c.path}`));
  }
}
