/**
 * The command table: every command with its own flags, help text and examples, read by
 * commander in src/cli.ts. Nothing heavy is imported here: each command loads its
 * implementation (the runner, the steps, ssh2, the AWS SDK…) when it runs, so `--help`
 * and `--version` start in about the time of `node -e 0`.
 */
import { DEFAULT_OPTIONS } from '../options.js';
import { targetFlags, targetForms } from '../targets/index.js';
import { lightsailTarget } from '../targets/lightsail-target.js';
import type { FlagValues, Purpose, TargetFlag } from '../targets/target.js';

/** A flag in commander's syntax: `-o, --output <mode>`, `--diff`. */
export interface Flag {
  flags: string;
  description: string;
  /** May be given more than once (values collected in a list). */
  repeat?: boolean;
}

export type Verbosity = 'quiet' | 'normal' | 'verbose';

/** What a command's run() receives from the command line. */
export interface Invocation {
  /** This command's flags by commander name (`exporterVersion`), only those given. */
  opts: Record<string, unknown>;
  /** Positional arguments. */
  args: string[];
  /** Words after `--`. */
  rest: string[];
  /** Values of the target's own flags (key, region, …) that were given. */
  targetFlags: FlagValues;
  verbosity: Verbosity;
  /** Lines for stdout. */
  write: (line: string) => void;
  /** The full log of this run (every line also goes there). */
  logPath?: string;
  /** Lines that go only to the log (progress, diffs the screen leaves out). */
  logOnly: (line: string) => void;
}

export interface CommandSpec {
  name: string;
  /** One line in `ebpf-lab --help`. */
  summary: string;
  /** A paragraph at the top of `ebpf-lab <name> --help` (default: the summary). */
  description?: string;
  /** Positional arguments in commander syntax, e.g. `[target]`, `<shell>`. */
  args?: string;
  flags: Flag[];
  /** Takes --target, and the targets' flags for this purpose. */
  target?: Purpose;
  /** Has --output (tty|plain|json): errors then come out as JSON too. */
  output?: boolean;
  /** Accepts words after `--`. */
  rest?: boolean;
  examples: string[];
  /** Writes no log file (prints help, a script or nothing worth keeping). */
  noLog?: boolean;
  subcommands?: CommandSpec[];
  /**
   * What a Ctrl-C or SIGTERM leaves behind, said before exiting 130/143. For commands without a
   * run guard of their own (up, plan and verify have src/runner/interrupt.ts, bench restores
   * its state itself, ssh passes Ctrl-C to the lab).
   */
  interrupted?: string;
  run?(inv: Invocation): Promise<number>;
}

/** What an interruption leaves after a command that only reads. */
const READ_ONLY = 'it only reads: nothing was changed';

const TARGET: Flag = {
  flags: '-t, --target <target>',
  description: `where the lab is: ${targetForms()} (default: sandbox)`,
};
const OUTPUT: Flag = {
  flags: '-o, --output <mode>',
  description: 'tty (live, on a terminal), plain (lines, for logs and CI) or json (one object on stdout)',
};
const STEPS: Flag[] = [
  { flags: '--only <steps>', description: 'run only these steps (comma-separated ids)' },
  { flags: '--skip <steps>', description: 'leave these steps out (comma-separated ids)' },
];
const LAB_OPTIONS: Flag[] = [
  { flags: '--opcache <on|off>', description: 'PHP opcache (default off: it hides compile__file__* events)' },
  { flags: '--dtrace <on|off>', description: 'USE_ZEND_DTRACE=1 for apache2 and php-fpm (default on)' },
  {
    flags: '--exporter-version <x.y.z>',
    description: `ebpf_exporter release (default ${DEFAULT_OPTIONS.exporterVersion})`,
  },
  {
    flags: '--prometheus <release|package>',
    description: "upstream release, or the distribution's package (the default on the sandbox)",
  },
  {
    flags: '--mirror <dir|url>',
    description: 'downloads from a local directory or an https:// URL (never http://) instead of the internet',
  },
];
const DETAILED: Flag = {
  flags: '--detailed-exitcode',
  description: 'exit 3 when changes are pending (plan), 4 when the lab is incomplete',
};
const YES: Flag = { flags: '-y, --yes', description: 'delete without asking (needed without a terminal)' };

const LIGHTSAIL_REACH = lightsailTarget.flags.filter((f) => f.use === 'reach');
const LIGHTSAIL_CREATE = lightsailTarget.flags;
const PREFIX: Flag = { flags: '--prefix <prefix>', description: 'lab names <prefix>-01, -02… (default lab)' };

const lab = (inv: Invocation) => ({
  target: inv.opts['target'] as string | undefined,
  targetFlags: inv.targetFlags,
  verbosity: inv.verbosity,
});

function list(v: unknown): string[] | undefined {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

async function labOptions(o: Record<string, unknown>) {
  const { onOff, exporterVersion, prometheusSource, mirror } = await import('../options.js');
  return {
    opcache: onOff('opcache', o['opcache'] as string | undefined, DEFAULT_OPTIONS.opcache),
    dtrace: onOff('dtrace', o['dtrace'] as string | undefined, DEFAULT_OPTIONS.dtrace),
    exporterVersion: exporterVersion(o['exporterVersion'] as string | undefined),
    prometheusSource: prometheusSource(o['prometheus'] as string | undefined),
    mirror: mirror(o['mirror'] as string | undefined),
  };
}

function runMode(mode: 'up' | 'plan' | 'verify') {
  return async (inv: Invocation) => {
    const { runCommand } = await import('./run.js');
    return runCommand({
      mode,
      ...lab(inv),
      only: list(inv.opts['only']),
      skip: list(inv.opts['skip']),
      output: inv.opts['output'] as string | undefined,
      diff: Boolean(inv.opts['diff']),
      detailedExitcode: Boolean(inv.opts['detailedExitcode']),
      verbosity: inv.verbosity,
      logOnly: inv.logOnly,
      logPath: inv.logPath,
      options: await labOptions(inv.opts),
    });
  };
}

function workshopFlags(inv: Invocation) {
  const o = inv.opts;
  return {
    region: o['region'] as string | undefined,
    profile: o['profile'] as string | undefined,
    bundle: o['bundle'] as string | undefined,
    blueprint: o['blueprint'] as string | undefined,
    allowFrom: o['allowFrom'] as string[] | undefined,
    count: o['count'] as string | undefined,
    prefix: o['prefix'] as string | undefined,
    ttl: o['ttl'] as string | undefined,
    expired: o['expired'] as boolean | undefined,
    config: o['config'] as string | undefined,
    yes: o['yes'] as boolean | undefined,
  };
}

function workshop(sub: 'up' | 'roster' | 'down') {
  return async (inv: Invocation) => {
    const { workshopCommand } = await import('./workshop.js');
    const options = await labOptions(inv.opts);
    return workshopCommand(
      {
        sub,
        flags: workshopFlags(inv),
        only: list(inv.opts['only']),
        skip: list(inv.opts['skip']),
        options: { ...options, prometheusSource: options.prometheusSource ?? 'release' },
        output: inv.opts['output'] as string | undefined,
      },
      inv.write,
    );
  };
}

const asFlags = (fs: readonly TargetFlag[]): Flag[] => fs.map((f) => ({ ...f }));

export const COMMANDS: CommandSpec[] = [
  {
    name: 'up',
    summary: 'create or converge a lab: only what differs is changed',
    description:
      'Creates the lab (a sandbox or Lightsail instance) when needed, then converges every step: ' +
      'check, apply exactly the listed changes, check again, verify. A second run changes nothing.',
    target: 'create',
    output: true,
    flags: [
      TARGET,
      OUTPUT,
      { flags: '--diff', description: 'show the full diff of every changed file' },
      ...STEPS,
      ...LAB_OPTIONS,
      DETAILED,
    ],
    examples: [
      'ebpf-lab up                                   # the default sandbox',
      'ebpf-lab up --target ssh://ubuntu@203.0.113.7 --key ~/.ssh/lab',
      'ebpf-lab up --target lightsail --region eu-central-1',
      'ebpf-lab up --skip ebpf-exporter,grafana --output plain',
    ],
    run: runMode('up'),
  },
  {
    name: 'plan',
    summary: 'what up would change, with diffs; changes nothing',
    description:
      'Runs every check read-only and prints the changes up would make. Steps after one with planned ' +
      'changes are marked "may change more". With --detailed-exitcode: 0 nothing to do, 3 changes pending.',
    target: 'use',
    output: true,
    flags: [
      TARGET,
      OUTPUT,
      { flags: '--diff', description: 'full diffs (plan always shows them)' },
      ...STEPS,
      ...LAB_OPTIONS,
      DETAILED,
    ],
    examples: [
      'ebpf-lab plan --target sandbox',
      'ebpf-lab plan --detailed-exitcode --output plain || echo "drift (exit $?)"',
    ],
    run: runMode('plan'),
  },
  {
    name: 'verify',
    summary: 'end-to-end checks with evidence (bpftrace sees real requests)',
    description:
      'Re-checks every step and proves the lab works. A component that is not installed is reported as ' +
      'NOT VERIFIED, never as passing.',
    target: 'use',
    output: true,
    flags: [TARGET, OUTPUT, ...STEPS, ...LAB_OPTIONS, DETAILED],
    examples: ['ebpf-lab verify', 'ebpf-lab verify --only dtrace --output json'],
    run: runMode('verify'),
  },
  {
    name: 'status',
    interrupted: READ_ONLY,
    summary: 'the labs this tool knows, their state and how to reach them',
    output: true,
    noLog: true,
    flags: [OUTPUT, { flags: '--show-password', description: "also show each lab's Grafana admin password" }],
    examples: ['ebpf-lab status', 'ebpf-lab status --output json', 'ebpf-lab status --show-password'],
    run: async (inv) =>
      (await import('./lab.js')).statusCommand(inv.opts['output'] as string | undefined, inv.write, {
        showPassword: Boolean(inv.opts['showPassword']),
      }),
  },
  {
    name: 'artifacts',
    interrupted: READ_ONLY,
    summary: 'every recorded download: sha256, how it is trusted, where it came from and when',
    description:
      "The default Prometheus release's sha256 is pinned in ebpf-lab. ebpf_exporter's is trust on first use: taken " +
      "from the release's own sha256sums.txt at the first download and recorded; every later copy must match. " +
      "Grafana's APT key is pinned by its primary key's full fingerprint.",
    output: true,
    noLog: true,
    flags: [OUTPUT],
    examples: ['ebpf-lab artifacts', 'ebpf-lab artifacts --output json'],
    run: async (inv) =>
      (await import('./artifacts.js')).artifactsCommand(inv.opts['output'] as string | undefined, inv.write),
  },
  {
    name: 'down',
    interrupted:
      'the lab may be partly removed; run the same `ebpf-lab down` again to finish (it removes what is left)',
    summary: 'destroy what ebpf-lab created (other hosts are only forgotten)',
    description:
      'Removes a sandbox, or deletes a Lightsail instance and its key pair (only if tagged as ours: asked on a ' +
      'terminal, --yes without one). An ssh:// or local host is left as it is, with any injected latency removed.',
    target: 'down',
    flags: [TARGET, YES],
    examples: ['ebpf-lab down', 'ebpf-lab down --target lightsail:lab-01 --yes'],
    run: async (inv) =>
      (await import('./lab.js')).downCommand({ ...lab(inv), yes: Boolean(inv.opts['yes']) }, inv.write),
  },
  {
    name: 'ssh',
    summary: 'a shell on a lab, or one command: ebpf-lab ssh -- CMD',
    description:
      'Logs in with the lab\'s key and its pinned host key. Words after "--" run on the lab instead of a ' +
      "shell, and ebpf-lab exits with that command's exit code (255: ssh itself failed).",
    args: '[target]',
    target: 'use',
    rest: true,
    noLog: true,
    flags: [TARGET],
    examples: ['ebpf-lab ssh', 'ebpf-lab ssh --target lightsail -- sudo systemctl status apache2'],
    run: async (inv) => {
      const { UserError } = await import('../errors.js');
      const [positional] = inv.args;
      if (positional !== undefined && inv.opts['target'] !== undefined)
        throw new UserError(
          `two targets given: "${positional}" and --target ${String(inv.opts['target'])}`,
          'give one, e.g. ebpf-lab ssh --target sandbox',
        );
      return (await import('./lab.js')).sshCommand({
        target: (inv.opts['target'] as string | undefined) ?? positional,
        targetFlags: inv.targetFlags,
        command: inv.rest,
      });
    },
  },
  {
    name: 'doctor',
    interrupted: READ_ONLY,
    summary: 'can this host run the lab? read-only checks, each with a fix',
    target: 'use',
    output: true,
    flags: [TARGET, OUTPUT],
    examples: ['ebpf-lab doctor', 'ebpf-lab doctor --target ssh://root@203.0.113.7 --output json'],
    run: async (inv) =>
      (await import('./doctor.js')).doctorCommand(
        { ...lab(inv), output: inv.opts['output'] as string | undefined },
        inv.write,
      ),
  },
  {
    name: 'load',
    interrupted:
      'the load generator on the lab stops with this connection, and the run lock goes with it; nothing was changed',
    summary: 'traffic on the sample pages (both SAPIs), generated on the lab host',
    description:
      'Requests from the lab host itself on mod_php (/) and php-fpm (/fpm/): memcached, exceptions, errors and ' +
      'two directories. With --job: the batch-job exercise, a PHP job timed by php-batch-jobs.bt.',
    target: 'use',
    output: true,
    flags: [
      TARGET,
      { flags: '--rate <n>', description: 'requests per second, 1-1000 (default 20)' },
      { flags: '--duration <time>', description: 'how long: 30s, 2m (default 30s)' },
      { flags: '--job', description: 'run the batch-job exercise instead' },
      OUTPUT,
    ],
    examples: ['ebpf-lab load --rate 50 --duration 2m', 'ebpf-lab load --job'],
    run: async (inv) =>
      (await import('./load.js')).loadCommand(
        {
          ...lab(inv),
          rate: inv.opts['rate'] as string | undefined,
          duration: inv.opts['duration'] as string | undefined,
          job: inv.opts['job'] as boolean | undefined,
          output: inv.opts['output'] as string | undefined,
        },
        inv.write,
      ),
  },
  {
    name: 'bench',
    summary: 'probe overhead: USE_ZEND_DTRACE off / on / programs attached',
    description:
      'Measures one sample page with ab in three states, several runs each, and prints each ratio with n and ' +
      'its spread; a difference smaller than the spread is reported as "within noise".',
    target: 'use',
    output: true,
    flags: [
      TARGET,
      { flags: '--duration <time>', description: 'measuring time per state, split over the runs (default 10s)' },
      { flags: '--runs <n>', description: 'measurements per state, 2-20 (default 5)' },
      OUTPUT,
    ],
    examples: ['ebpf-lab bench', 'ebpf-lab bench --duration 30s --runs 10 --output json'],
    run: async (inv) =>
      (await import('./bench.js')).benchCommand(
        {
          ...lab(inv),
          duration: inv.opts['duration'] as string | undefined,
          runs: inv.opts['runs'] as string | undefined,
          output: inv.opts['output'] as string | undefined,
        },
        inv.write,
      ),
  },
  {
    name: 'deadcode',
    interrupted: 'with --start or --stop, tracing or opcache may be half switched: run the same command again',
    summary: 'PHP files never compiled since tracing started',
    description:
      '--start traces compile__file__return of mod_php, php-fpm and the CLI on the lab host; then exercise the ' +
      'site; `deadcode` reports the files compiled and those never compiled; --stop ends it.',
    target: 'use',
    output: true,
    flags: [
      TARGET,
      { flags: '--start', description: 'start tracing' },
      { flags: '--opcache-off', description: 'with --start: turn opcache off while tracing (real counts)' },
      { flags: '--since <time>', description: 'report only the last 10m, 2h…, or since an ISO time' },
      { flags: '--stop', description: 'stop tracing (and restore opcache)' },
      OUTPUT,
    ],
    examples: ['ebpf-lab deadcode --start --opcache-off', 'ebpf-lab deadcode --since 10m', 'ebpf-lab deadcode --stop'],
    run: async (inv) =>
      (await import('./deadcode.js')).deadcodeCommand(
        {
          ...lab(inv),
          since: inv.opts['since'] as string | undefined,
          start: inv.opts['start'] as boolean | undefined,
          stop: inv.opts['stop'] as boolean | undefined,
          opcacheOff: inv.opts['opcacheOff'] as boolean | undefined,
          output: inv.opts['output'] as string | undefined,
        },
        inv.write,
      ),
  },
  {
    name: 'inject-latency',
    interrupted: 'a delay may be half set: run the same command again, or with --clear to remove it',
    summary: "tc netem delay towards one port on the lab host's loopback",
    target: 'use',
    flags: [
      TARGET,
      { flags: '--to <port>', description: 'memcached or a TCP port' },
      { flags: '--delay <time>', description: 'e.g. 2ms, 1.6ms, 500us (up to 10s)' },
      { flags: '--clear', description: 'remove the injected delay' },
    ],
    examples: ['ebpf-lab inject-latency --to memcached --delay 2ms', 'ebpf-lab inject-latency --clear'],
    run: async (inv) =>
      (await import('./latency.js')).latencyCommand(
        {
          ...lab(inv),
          to: inv.opts['to'] as string | undefined,
          delay: inv.opts['delay'] as string | undefined,
          clear: inv.opts['clear'] as boolean | undefined,
        },
        inv.write,
      ),
  },
  {
    name: 'workshop',
    summary: 'one Lightsail lab per attendee: up, roster, down',
    flags: [],
    examples: [
      'ebpf-lab workshop up --count 30 --prefix lab --ttl 8h',
      'ebpf-lab workshop roster --prefix lab',
      'ebpf-lab workshop down --prefix lab --expired --yes',
    ],
    subcommands: [
      {
        name: 'up',
        interrupted:
          'some labs may be created and not yet provisioned: run the same `ebpf-lab workshop up` again to finish, or `ebpf-lab workshop down` to remove them',
        summary: 'create and provision the labs (prints the cost, asks to confirm)',
        output: true,
        flags: [
          { flags: '--count <n>', description: 'how many labs (asked on a terminal)' },
          PREFIX,
          ...asFlags(LIGHTSAIL_CREATE),
          ...STEPS,
          ...LAB_OPTIONS,
          OUTPUT,
        ],
        examples: ['ebpf-lab workshop up --count 30 --ttl 8h --yes', 'ebpf-lab workshop up --config workshop.yaml'],
        run: workshop('up'),
      },
      {
        name: 'roster',
        interrupted: 'nothing on the labs was changed; roster.csv and roster.md may be half written: run it again',
        summary: 'roster.csv and roster.md: IP, Grafana URL and password, ssh command',
        flags: [PREFIX, ...asFlags(LIGHTSAIL_REACH)],
        examples: ['ebpf-lab workshop roster --prefix lab'],
        run: workshop('roster'),
      },
      {
        name: 'down',
        interrupted: 'some labs may be removed and some not yet: run the same `ebpf-lab workshop down` again to finish',
        summary: "delete the workshop's labs (asked on a terminal, --yes without one)",
        flags: [
          PREFIX,
          { flags: '--expired', description: 'only the labs whose --ttl has passed' },
          YES,
          ...asFlags(LIGHTSAIL_REACH),
        ],
        examples: ['ebpf-lab workshop down --prefix lab --yes'],
        run: workshop('down'),
      },
    ],
  },
  {
    name: 'completion',
    summary: 'shell completion script: ebpf-lab completion bash|zsh',
    args: '<shell>',
    noLog: true,
    flags: [],
    examples: [
      'source <(ebpf-lab completion bash)                     # bash, this shell',
      'ebpf-lab completion zsh > "${fpath[1]}/_ebpf-lab"      # zsh, then start a new shell',
    ],
    run: async (inv) =>
      (await import('./completion.js')).completionCommand(
        inv.args[0],
        {
          commands: allCommands().map(({ path, spec }) => ({
            path,
            summary: spec.summary,
            subcommands: (spec.subcommands ?? []).map((s) => ({ name: s.name, summary: s.summary })),
            flags: commandFlags(spec),
          })),
        },
        inv.write,
      ),
  },
  {
    name: 'version',
    summary: 'print the version (also --version, -V)',
    noLog: true,
    flags: [],
    examples: ['ebpf-lab version'],
  },
];

/** The flags a command offers, the targets' included. */
export function commandFlags(c: CommandSpec): Flag[] {
  const own = c.flags;
  const long = (f: Flag) => /--([a-z0-9-]+)/.exec(f.flags)![1]!;
  const names = new Set(own.map(long));
  const fromTargets = c.target ? asFlags(targetFlags(c.target)).filter((f) => !names.has(long(f))) : [];
  return [...own, ...fromTargets];
}

/** Every command and subcommand with its full name (`workshop up`). */
export function allCommands(cs: CommandSpec[] = COMMANDS, prefix = ''): { path: string; spec: CommandSpec }[] {
  return cs.flatMap((c) => [
    { path: prefix + c.name, spec: c },
    ...allCommands(c.subcommands ?? [], `${prefix}${c.name} `),
  ]);
}
