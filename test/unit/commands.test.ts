// The command table read by commander: every command's help shows its own flags, a misspelt
// flag gets "did you mean", a flag of another command and a target's flag given to a target
// that does not take it are bad input (exit 2), before anything is touched.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, report } from '../../src/cli.js';
import { allCommands, commandFlags, COMMANDS } from '../../src/commands/table.js';
import { UserError } from '../../src/errors.js';

const home = mkdtempSync(join(tmpdir(), 'ebpf-lab-cmd-'));
const saved = process.env['EBPF_LAB_HOME'];
beforeAll(() => void (process.env['EBPF_LAB_HOME'] = home));
afterAll(() => {
  if (saved === undefined) delete process.env['EBPF_LAB_HOME'];
  else process.env['EBPF_LAB_HOME'] = saved;
  rmSync(home, { recursive: true, force: true });
});

/** Runs main() in this process and captures stdout. */
async function run(argv: string[]): Promise<{ code?: number; out: string; err?: unknown }> {
  const orig = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    return { code: await main(argv), out };
  } catch (err) {
    return { out, err };
  } finally {
    process.stdout.write = orig;
  }
}

const long = (flags: string) => /--[a-z0-9-]+/.exec(flags)![0];
const valued = (flags: string) => /[<[]/.test(flags);
const commands = allCommands().filter(({ spec }) => !spec.subcommands);

async function badInput(argv: string[]): Promise<UserError> {
  const r = await run(argv);
  expect(r.err, `${argv.join(' ')} must be refused`).toBeInstanceOf(UserError);
  return r.err as UserError;
}

describe('every command declares its own flags, help and examples', () => {
  it.each(commands.map((c) => [c.path, c] as const))('ebpf-lab %s --help', async (path, { spec }) => {
    const r = await run([...path.split(' '), '--help']);
    expect(r.err).toBeUndefined();
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: ebpf-lab ${path}`);
    for (const f of commandFlags(spec)) expect(r.out, f.flags).toContain(long(f.flags));
    for (const e of spec.examples) expect(r.out).toContain(e);
    expect(spec.examples.length, 'at least one example').toBeGreaterThan(0);
    // Another command's own flag is not offered here.
    const mine = new Set(commandFlags(spec).map((f) => long(f.flags)));
    const others = commands
      .flatMap((c) => commandFlags(c.spec).map((f) => long(f.flags)))
      .filter((f) => !mine.has(f) && f !== '--help');
    for (const f of others)
      expect(r.out, `${f} in ${path} --help`).not.toMatch(new RegExp(`^ +(-[a-zA-Z], )?${f}\\b(?!-)`, 'm'));
  });

  it('ebpf-lab --help lists every command with its summary, the exit codes and the environment', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.out).toContain(c.name);
    expect(r.out).toMatch(/Exit codes:[\s\S]*2 +bad input[\s\S]*3 +plan --detailed-exitcode/);
    expect(r.out).toMatch(/EBPF_LAB_HOME[\s\S]*EBPF_LAB_CACHE[\s\S]*NO_COLOR/);
    expect(r.out).toContain('ebpf-lab <command> --help');
    expect((await run(['help', 'up'])).out).toContain('Usage: ebpf-lab up');
  });
});

describe('unknown flags', () => {
  it.each(commands.map((c) => [c.path, c] as const))('%s: an unknown flag is refused', async (path) => {
    const e = await badInput([...path.split(' '), '--no-such-flag']);
    expect(e.message).toMatch(/Unknown option '--no-such-flag'/);
    expect(e.hint).toMatch(/--help/);
  });

  it.each(commands.filter((c) => commandFlags(c.spec).some((f) => long(f.flags).length > 6)).map((c) => [c.path, c]))(
    '%s: a misspelt flag gets "did you mean"',
    async (path, c) => {
      const f = commandFlags((c as (typeof commands)[number]).spec).find((x) => long(x.flags).length > 6)!;
      const name = long(f.flags);
      const typo = name.slice(0, 4) + name.slice(5); // one letter dropped
      const e = await badInput([...(path as string).split(' '), typo, ...(valued(f.flags) ? ['x'] : [])]);
      expect(e.hint).toContain(`did you mean ${name}?`);
    },
  );

  it('single-dash words: -out is not read as -o ut; -job suggests --job', async () => {
    const e = await badInput(['plan', '-out', 'x']);
    expect(e.message).toMatch(/"-out" is ambiguous: -o takes a value/);
    expect((await badInput(['load', '-job'])).hint).toContain('did you mean --job?');
  });

  it('a boolean flag with a value, a missing value, a stray argument', async () => {
    expect((await badInput(['up', '--diff=yes'])).message).toMatch(/--diff takes no value/);
    expect((await badInput(['up', '--target'])).message).toMatch(/--target needs a value/);
    expect((await badInput(['up', 'now'])).message).toMatch(/unexpected argument "now"/);
    expect((await badInput(['status', '--', 'x'])).message).toMatch(/unexpected argument "x" after --/);
    expect((await badInput(['up', '-v', '-q'])).message).toMatch(/exclude each other/);
  });

  it('unknown commands and workshop sub-commands suggest the right one', async () => {
    const e = await badInput(['upp']);
    expect(e.message).toBe('unknown command "upp"');
    expect(e.hint).toMatch(/did you mean up\?/);
    expect((await badInput(['workshop', 'destroy'])).message).toBe('unknown workshop command "destroy"');
    expect((await badInput(['workshop'])).message).toBe('workshop needs a command');
    expect((await badInput(['help', 'nosuch'])).message).toBe('unknown command "nosuch"');
  });
});

describe('flags of other commands', () => {
  // Every (command, flag of another command) pair where the command does not have that flag.
  const pairs = commands.flatMap((a) => {
    const mine = new Set(commandFlags(a.spec).map((f) => long(f.flags)));
    const seen = new Set<string>();
    return commands
      .filter((b) => b !== a)
      .flatMap((b) => commandFlags(b.spec).map((f) => [b.path, f] as const))
      .filter(([, f]) => !mine.has(long(f.flags)) && !seen.has(long(f.flags)) && seen.add(long(f.flags)))
      .map(([owner, f]) => [a.path, long(f.flags), owner, valued(f.flags)] as const);
  });

  it('there are such pairs to check', () => expect(pairs.length).toBeGreaterThan(100));

  it.each(pairs)('%s %s (a flag of %s) is refused', async (path, flag, owner, takesValue) => {
    const e = await badInput([...path.split(' '), flag, ...(takesValue ? ['x'] : [])]);
    expect(e.message).toMatch(new RegExp(`Unknown option '${flag}' for ${path}: ${flag} is a flag of .*\`${owner}\``));
    expect(e.hint).toContain(`ebpf-lab ${path} --help`);
  });

  it('the example from the issue: plan --rate 5 --job', async () => {
    expect((await badInput(['plan', '--rate', '5', '--job'])).message).toMatch(/--rate is a flag of `load`/);
  });
});

describe("a target's flags", () => {
  it.each([
    [['up', '--target', 'sandbox', '--key', '/k'], /--key does not apply to sandbox:default/],
    [['up', '--key', '/k'], /--key does not apply to sandbox:default/],
    [['up', '--target', 'ssh://root@192.0.2.1', '--region', 'eu-central-1'], /--region does not apply to ssh:\/\//],
    [['load', '--target', 'local', '--profile', 'p'], /--profile does not apply to local/],
    [['plan', '--target', 'lightsail', '--key', '/k'], /--key does not apply to lightsail:ebpf-lab/],
    [['down', '--target', 'lightsail', '--bundle', 'x'], /--bundle is a flag of `up`/],
    [['plan', '--target', 'lightsail', '--bundle', 'x'], /--bundle is a flag of `up`/],
    [['ssh', 'sandbox', '--target', 'local'], /two targets given/],
  ])('%j is refused', async (argv, message) => {
    const e = await badInput(argv);
    expect(e.message).toMatch(message);
    expect(e.hint).toBeTruthy();
  });
});

describe('step selection', () => {
  it.each([
    [['up', '--only', ''], /--only needs at least one step id/],
    [['up', '--only', ',,,'], /--only needs at least one step id/],
    [['plan', '--skip', ' , '], /--skip needs at least one step id/],
    [['up', '--only', 'php', '--skip', 'php'], /php is both in --only and in --skip/],
    [['up', '--only', 'php,nope'], /unknown step "nope"/],
  ])('%j is bad input, nothing created', async (argv, message) => {
    const e = await badInput(argv);
    expect(e.message).toMatch(message);
    expect(e.hint).toMatch(/step|--only/);
  });
});

describe('--output json: errors come out as JSON on stdout too', () => {
  it('bad input on the command line', async () => {
    const r = await run(['up', '--output', 'json', '--bogus']);
    expect(r.err).toBeInstanceOf(UserError);
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      error: {
        kind: 'bad-input',
        message: "Unknown option '--bogus' for up",
        hint: 'ebpf-lab up --help lists the flags for up',
        exitCode: 2,
      },
    });
  });

  it('a run that failed before it started is not ok, and says why (one JSON object)', async () => {
    const r = await run(['plan', '--target', 'sandbox:nosuch', '--output', 'json']);
    expect(r.err).toBeInstanceOf(UserError);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({
      ok: false,
      complete: false,
      runs: [],
      error: { kind: 'bad-input', message: 'there is no sandbox named "nosuch"', exitCode: 2 },
    });
    // the usual lines on stderr as well
    const orig = process.stderr.write.bind(process.stderr);
    let err = '';
    process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
    try {
      expect(report(r.err)).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    expect(err).toMatch(/^error: there is no sandbox named "nosuch"\nhint: create it with/);
  });
});

describe('version and completion', () => {
  it('completion bash is valid bash and completes commands, flags and step ids', async () => {
    const r = await run(['completion', 'bash']);
    expect(r.code).toBe(0);
    const { execFileSync } = await import('node:child_process');
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `${r.out}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ebpf_lab; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      ).trim();
    expect(complete(['ebpf-lab', 'pl'])).toBe('plan');
    expect(complete(['ebpf-lab', 'up', '--ta'])).toBe('--target');
    expect(complete(['ebpf-lab', 'up', '--output', ''])).toBe('tty plain json');
    expect(complete(['ebpf-lab', 'plan', '--skip', 'php,graf'])).toBe('php,grafana');
    expect(complete(['ebpf-lab', 'workshop', 'ro'])).toBe('roster');
    expect(complete(['ebpf-lab', 'workshop', 'down', '--exp'])).toBe('--expired');
    expect(complete(['ebpf-lab', 'load', '--target', 'sandbox', '--ra'])).toBe('--rate');
  });

  it('completion zsh is valid zsh (zsh -n; zsh is in scripts/host-packages.txt) and names every command', async () => {
    const r = await run(['completion', 'zsh']);
    expect(r.out).toMatch(/^#compdef ebpf-lab/);
    const { execFileSync } = await import('node:child_process');
    execFileSync('zsh', ['-n'], { input: r.out });
    for (const c of COMMANDS) expect(r.out).toContain(`'${c.name}:`);
    expect((await badInput(['completion', 'fish'])).message).toMatch(/bash and zsh/);
  });
});
