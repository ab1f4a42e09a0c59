/**
 * The command line: commander reads the command table (src/commands/table.ts), every
 * command with its own flags, help and examples. Mistakes are bad input (exit 2, an `error:`
 * and a `hint:` line): unknown or misspelt flags (with "did you mean"), a flag of another
 * command, a target's flag given to a target that does not take it. Each run that does
 * something writes its full log under $EBPF_LAB_HOME/logs and says where.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { JSON_PRINTED, UserError, summarizeError } from './errors.js';
import {
  COMMANDS,
  allCommands,
  commandFlags,
  type CommandSpec,
  type Invocation,
  type Verbosity,
} from './commands/table.js';
import { camel, checkTargetFlags, flagName, parseTarget, targetFlags, TARGETS } from './targets/index.js';
import { packageRoot } from './paths.js';
import type { RunLog } from './runlog.js';
import { localFsError } from './local-fs.js';
import { redactUrls } from './redact.js';

/** Set on an error: the log of the run it ended (report() says where it is). */
export const LOG_PATH = Symbol('ebpf-lab.logPath');

const EPILOG = () => `
Targets (--target):
${TARGETS.map((t) => `  ${t.forms.join(', ').padEnd(26)} ${t.summary}`).join('\n')}

Exit codes:
  0  ok (a lab that is incomplete, e.g. a download failed offline, says so: see --detailed-exitcode)
  1  a step or check failed
  2  bad input: nothing was changed; the message says what to do
  3  plan --detailed-exitcode: changes are pending
  4  up/plan/verify --detailed-exitcode: the lab is incomplete (a step skipped, a check NOT VERIFIED)
  130, 143  interrupted by Ctrl-C (SIGINT) or SIGTERM: the run says which step and the host's state

Downloads (ebpf-lab artifacts lists them):
  the default Prometheus release's sha256 is pinned in ebpf-lab; ebpf_exporter's is trust on first use
  (taken from the release's own sha256sums.txt at the first download and recorded; later copies must
  match); Grafana's APT key is pinned by its primary key's full fingerprint. --mirror takes a local
  directory or an https:// URL, never http://.

Environment:
  EBPF_LAB_HOME    state: labs, keys, known hosts, logs (default ~/.ebpf-lab)
  EBPF_LAB_CACHE   downloads and the sandbox image (default $EBPF_LAB_HOME/cache)
  NO_COLOR, FORCE_COLOR, TERM=dumb   colours and live progress
  AWS_PROFILE, AWS_REGION            the Lightsail account and region (or --profile, --region)

Every run's full log: $EBPF_LAB_HOME/logs/. Help on a command: ebpf-lab <command> --help
`;

function version(): string {
  return JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')).version as string;
}

const longName = (flags: string) => /--([a-z0-9-]+)/.exec(flags)![1]!;

/** Commands (by path) that have a flag, for "it is a flag of …". */
function commandsWithFlag(name: string): string[] {
  return allCommands()
    .filter(({ spec }) => commandFlags(spec).some((f) => longName(f.flags) === name))
    .map(({ path }) => path);
}

interface Context {
  /** Words after `--`. */
  rest: string[];
  /** The arguments before `--`. */
  words: string[];
  argv: string[];
  log?: RunLog;
  code?: number;
}

/** `-out x` must not read as `-o ut`: a value-taking short flag glued to more letters is refused. */
function refuseGluedShorts(cmd: Command, words: string[]): void {
  const valued = new Set(
    [...cmd.options, ...(cmd.parent?.options ?? [])]
      .filter((o) => o.short && (o.required || o.optional))
      .map((o) => o.short!),
  );
  for (const w of words) {
    const m = /^(-[A-Za-z])([A-Za-z].*)$/.exec(w);
    if (m && valued.has(m[1]!)) {
      const long = cmd.options.find((o) => o.short === m[1])?.long;
      throw new UserError(
        `"${w}" is ambiguous: ${m[1]} takes a value, so it would read as ${m[1]} ${m[2]}`,
        `long flags start with two dashes; write ${long ?? m[1]} ${m[2]} if that is what you meant`,
      );
    }
  }
}

async function invoke(spec: CommandSpec, path: string, cmd: Command, ctx: Context): Promise<number> {
  const globals = cmd.optsWithGlobals() as { verbose?: boolean; quiet?: boolean };
  if (globals.verbose && globals.quiet)
    throw new UserError('-v/--verbose and -q/--quiet exclude each other', 'give one of them');
  const verbosity: Verbosity = globals.verbose ? 'verbose' : globals.quiet ? 'quiet' : 'normal';
  const opts = cmd.opts() as Record<string, unknown>;
  refuseGluedShorts(cmd, ctx.words);
  const expected = cmd.registeredArguments.length;
  if (cmd.args.length > expected)
    throw new UserError(`unexpected argument "${cmd.args[expected]}"`, 'options start with --, e.g. --target sandbox');
  if (ctx.rest.length && !spec.rest)
    throw new UserError(
      `unexpected argument "${ctx.rest[0]}" after --`,
      `only \`ebpf-lab ssh -- CMD\` takes a command; ${path} takes flags`,
    );
  if (spec.output && opts['output'] !== undefined && !['tty', 'plain', 'json'].includes(opts['output'] as string))
    throw new UserError(
      `--output must be tty, plain or json, not "${String(opts['output'])}"`,
      'plain for logs and CI, json for one summary object on stdout; leave it out to pick tty or plain automatically',
    );
  const values: Record<string, unknown> = {};
  if (spec.target) {
    const own = new Set(spec.flags.map((f) => longName(f.flags)));
    const offered = targetFlags(spec.target).filter((f) => !own.has(flagName(f)));
    const given = offered.filter((f) => cmd.getOptionValueSource(camel(flagName(f))) === 'cli').map(flagName);
    // The target is checked here, before anything runs: a malformed one, or a flag it does not take.
    const chosen = parseTarget((opts['target'] as string | undefined) ?? cmd.args[0]);
    checkTargetFlags(chosen, given, spec.target);
    for (const f of offered) {
      const k = camel(flagName(f));
      if (opts[k] !== undefined) values[k] = opts[k];
    }
  }
  if (spec.run && spec.name !== 'completion') {
    // Files and directories the user names: checked before anything is read in full or written
    // (the log below is the first thing written, under EBPF_LAB_HOME).
    const { checkConfigFile, checkKeyFile, checkLabHome } = await import('./inputs.js');
    await checkLabHome();
    if (typeof opts['key'] === 'string') await checkKeyFile(opts['key']);
    if (typeof opts['config'] === 'string') await checkConfigFile(opts['config']);
  }
  if (!spec.noLog) {
    const { startRunLog } = await import('./runlog.js');
    ctx.log = startRunLog(path, ctx.argv, version());
    ctx.log.attach();
  }
  const log = ctx.log;
  const inv: Invocation = {
    opts,
    args: cmd.args,
    rest: ctx.rest,
    targetFlags: values,
    verbosity,
    write: (s) => process.stdout.write(s + '\n'),
    ...(log ? { logPath: log.path } : {}),
    logOnly: (s) => log?.line(s),
  };
  if (!spec.run) {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const stop = spec.interrupted ? sayOnInterrupt(path, spec.interrupted, log) : undefined;
  try {
    return await spec.run(inv);
  } finally {
    stop?.();
  }
}

/**
 * Ctrl-C and SIGTERM for a command without a run guard of its own: say what was interrupted
 * and what it leaves, then exit 130 or 143. A command that installs its own handler (up, plan,
 * verify, bench) says more, so this one then stays quiet.
 */
function sayOnInterrupt(path: string, leaves: string, log?: RunLog): () => void {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
    const handler = () => {
      if (process.listenerCount(sig) > 1) return;
      const line = `ebpf-lab: ${path} interrupted by ${sig}: ${leaves}`;
      process.stderr.write(`\n${line}\n`); // the run log copies stderr
      if (log?.written) process.stderr.write(`log: ${log.path}\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return () => handlers.forEach(([sig, handler]) => process.off(sig, handler));
}

function addCommand(parent: Command, spec: CommandSpec, ctx: Context, prefix: string): void {
  const path = prefix + spec.name;
  const cmd = parent
    .command(spec.name)
    .description(spec.description ?? spec.summary)
    .summary(spec.summary);
  if (spec.args) cmd.argument(spec.args);
  for (const f of commandFlags(spec)) {
    const o = new Option(f.flags, f.description);
    // A target's own flags under their own heading: `Flags for lightsail targets:`.
    const owner = TARGETS.find((t) => !spec.flags.includes(f) && t.flags.some((tf) => tf.flags === f.flags));
    if (owner) o.helpGroup(`Flags for ${owner.forms[0]} targets:`);
    if (f.repeat) o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(o);
  }
  if (spec.examples.length) cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n`);
  cmd.allowExcessArguments(true); // checked in invoke(), with our own message
  cmd.exitOverride((err) => {
    throw Object.assign(err, { commandPath: path });
  });
  cmd.configureHelp({ showGlobalOptions: true });
  if (spec.subcommands) {
    for (const sub of spec.subcommands) addCommand(cmd, sub, ctx, `${path} `);
    const names = spec.subcommands.map((s) => s.name).join(' | ');
    cmd.action(() => {
      const [word] = cmd.args;
      throw new UserError(
        word ? `unknown ${path} command "${word}"` : `${path} needs a command`,
        `use: ebpf-lab ${path} ${names} (ebpf-lab ${path} --help)`,
      );
    });
    return;
  }
  cmd.action(async (...a: unknown[]) => {
    ctx.code = await invoke(spec, path, a.at(-1) as Command, ctx);
  });
}

function build(ctx: Context): Command {
  const program = new Command('ebpf-lab')
    .description('An eBPF-for-PHP observability lab on any Linux host, idempotently, with evidence that it works.')
    .usage('<command> [flags]')
    .option('-v, --verbose', 'more detail: progress lines, full diffs, every check')
    .option('-q, --quiet', 'only failures, what is missing and the final summary')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'this help; ebpf-lab <command> --help for a command')
    .helpCommand('help [command]', 'help on a command')
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: () => {},
    })
    .exitOverride((err) => {
      throw Object.assign(err, { commandPath: '' });
    })
    .addHelpText('after', EPILOG());
  for (const spec of COMMANDS) addCommand(program, spec, ctx, '');
  return program;
}

/** A commander error as bad input in our words (exit 2), or undefined for help/version (exit 0). */
function translate(e: CommanderError & { commandPath?: string }): UserError | undefined {
  const path = e.commandPath ?? '';
  const where = path ? ` for ${path}` : '';
  const help = `ebpf-lab ${path ? `${path} ` : ''}--help`;
  const msg = e.message.replace(/^error: /, '');
  switch (e.code) {
    case 'commander.helpDisplayed':
    case 'commander.version':
    case 'commander.help':
      return undefined;
    case 'commander.unknownOption': {
      const flag = /unknown option '([^']+)'/.exec(msg)?.[1] ?? msg;
      const name = flag.replace(/^-+/, '').replace(/=.*$/, '');
      const spec = allCommands().find((c) => c.path === path)?.spec;
      const own = spec ? commandFlags(spec).map((f) => longName(f.flags)) : [];
      if (own.includes(name) && flag.includes('='))
        return new UserError(
          `--${name} takes no value (given "${flag}")`,
          `write --${name} alone; ${help} lists the flags`,
        );
      const elsewhere = commandsWithFlag(name).filter((p) => p !== path);
      if (elsewhere.length && flag.startsWith('--'))
        return new UserError(
          `Unknown option '${flag}'${where}: --${name} is a flag of ${elsewhere.map((p) => `\`${p}\``).join(', ')}`,
          `${help} lists the flags of ${path || 'ebpf-lab'}`,
        );
      const suggested =
        /\(Did you mean (\S+)\?\)/.exec(msg)?.[1] ??
        (own.includes(name) ? `--${name}` : undefined) ??
        (['verbose', 'quiet', 'version', 'help'].includes(name) ? `--${name}` : undefined);
      return new UserError(
        `Unknown option '${flag}'${where}`,
        suggested ? `did you mean ${suggested}? (${help} lists the flags)` : `${help} lists the flags${where}`,
      );
    }
    case 'commander.unknownCommand': {
      const word = /unknown command '([^']+)'/.exec(msg)?.[1] ?? msg;
      const suggested = /\(Did you mean (\S+)\?\)/.exec(msg)?.[1];
      return new UserError(
        `unknown command "${word}"`,
        `${suggested ? `did you mean ${suggested}? ` : ''}commands: ${COMMANDS.map((c) => c.name).join(', ')} (ebpf-lab --help)`,
      );
    }
    case 'commander.optionMissingArgument': {
      const flags = /option '([^']+)'/.exec(msg)?.[1] ?? msg;
      const name = /--[a-z0-9-]+/.exec(flags)?.[0] ?? flags;
      const value = /<[^>]+>/.exec(flags)?.[0] ?? '';
      return new UserError(`${name} needs a value ${value}`.trim(), `${help} shows what it takes`);
    }
    case 'commander.missingArgument': {
      const arg = /missing required argument '([^']+)'/.exec(msg)?.[1] ?? 'argument';
      return new UserError(`${path} needs its ${arg}`, `${help} shows an example`);
    }
    default:
      return new UserError(msg, `${help} lists the flags`);
  }
}

/** `--output json` anywhere on the line (also when the line did not parse). */
function wantsJson(words: string[]): boolean {
  return words.some(
    (w, i) => w === '--output=json' || w === '-ojson' || ((w === '--output' || w === '-o') && words[i + 1] === 'json'),
  );
}

export async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const words = dash >= 0 ? argv.slice(0, dash) : argv;
  const ctx: Context = { rest: dash >= 0 ? argv.slice(dash + 1) : [], words, argv };
  const program = build(ctx);
  try {
    if (words.length === 0) {
      program.outputHelp();
      return 0;
    }
    if (words[0] === 'help' && words[1] !== undefined && !COMMANDS.some((c) => c.name === words[1]))
      throw new UserError(
        `unknown command "${words[1]}"`,
        `commands: ${COMMANDS.map((c) => c.name).join(', ')} (ebpf-lab --help)`,
      );
    try {
      await program.parseAsync(words, { from: 'user' });
    } catch (e) {
      if (!(e instanceof CommanderError)) throw e;
      const err = translate(e);
      if (err) throw err;
      return e.exitCode;
    }
    const code = ctx.code ?? 0;
    ctx.log?.detach();
    if (ctx.log?.written && !(program.opts()['quiet'] && code === 0)) process.stderr.write(`log: ${ctx.log.path}\n`);
    return code;
  } catch (caught) {
    const e = toHostError(caught);
    ctx.log?.detach();
    const summary = summarizeError(e);
    if (ctx.log && (ctx.log.written || summary.kind !== 'bad-input')) {
      ctx.log.line(`error: ${summary.message}${summary.hint ? `\nhint: ${summary.hint}` : ''}`);
      if (e !== null && typeof e === 'object') Object.assign(e, { [LOG_PATH]: ctx.log.path });
    }
    if (wantsJson(words) && e !== null && typeof e === 'object' && !(JSON_PRINTED in e)) {
      process.stdout.write(
        JSON.stringify({ ok: false, error: summary, ...(ctx.log?.written ? { log: ctx.log.path } : {}) }, null, 2) +
          '\n',
      );
      Object.assign(e, { [JSON_PRINTED]: true });
    }
    throw e;
  }
}

/** A full or read-only disk on this machine as a HostError (exit 1, where and what to do); others as they are. */
function toHostError(e: unknown): unknown {
  return localFsError(e, () => process.env['EBPF_LAB_HOME'] || join(homedir(), '.ebpf-lab')) ?? e;
}

export function report(e: unknown): number {
  e = toHostError(e); // a full or read-only disk here: said as such, not as a bug
  const where = e !== null && typeof e === 'object' && LOG_PATH in e ? `log: ${String(e[LOG_PATH])}\n` : '';
  if (e instanceof UserError) {
    process.stderr.write(redactUrls(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`) + where);
    return 2;
  }
  const err = e as Error;
  // A failed command or a post-condition that did not hold (e.g. a sandbox whose sshd never
  // answered, with its log tail): the message says what happened; not a bug in ebpf-lab.
  if (err?.name === 'CommandError' || err?.name === 'VerifyError' || err?.name === 'HostError') {
    const hint = (err as { hint?: string }).hint;
    process.stderr.write(redactUrls(`error: ${err.message}\n${hint ? `hint: ${hint}\n` : ''}`) + where);
    return 1;
  }
  process.stderr.write(
    `internal error (a bug in ebpf-lab; please report it with this output):\n${err?.stack ?? String(e)}\n${where}`,
  );
  return 1;
}
