import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from './errors.js';
import { DEFAULT_OPTIONS, exporterVersion, onOff, prometheusSource, type LabOptions } from './options.js';
import { runCommand } from './commands/run.js';
import { downCommand, sshCommand, statusCommand } from './commands/lab.js';
import { setLightsailFlags } from './commands/lightsail-inputs.js';
import { packageRoot } from './paths.js';
import { checkConfigFile, checkKeyFile, checkLabHome } from './inputs.js';
import { localFsError } from './local-fs.js';
import { redactUrls } from './redact.js';

const USAGE = `ebpf-lab — an eBPF-for-PHP observability lab on any host, idempotently

usage:
  ebpf-lab up      [--target T] [--only a,b] [--skip c] [--output tty|plain|json] [--diff]
  ebpf-lab plan    [--target T] [--only a,b] [--skip c]     what up would change (nothing is changed)
  ebpf-lab verify  [--target T]                             end-to-end checks with evidence
  ebpf-lab status  [--output json] [--show-password]        labs this tool knows (the Grafana password only on request)
  ebpf-lab down    [--target T]                             destroy what this tool created
  ebpf-lab ssh     [--target T]                             a shell on a lab
  ebpf-lab doctor  [--target T] [--output json]             can this host run the lab? read-only checks, each with a fix
  ebpf-lab load    [--target T] [--rate 20] [--duration 30s]  traffic on the sample pages (both SAPIs), from the lab host
  ebpf-lab load --job [--target T]                          the batch-job exercise: the sample job timed by php-batch-jobs.bt
  ebpf-lab bench   [--target T] [--duration 10s] [--output json]  probe overhead: USE_ZEND_DTRACE off / on / programs attached
  ebpf-lab deadcode --start [--opcache-off] | [--since 10m] | --stop   PHP files never compiled since tracing started
  ebpf-lab inject-latency --to memcached|PORT --delay 2ms | --clear     tc netem delay on the lab host's loopback
  ebpf-lab workshop up --count N [--prefix lab] [--ttl 8h] [--yes]   one Lightsail lab per attendee
  ebpf-lab workshop roster [--prefix lab]                 roster.csv / roster.md of a workshop
  ebpf-lab workshop down [--prefix lab] [--expired]       delete a workshop's labs

targets: sandbox (default; a local Debian 12 systemd container), sandbox:NAME,
         ssh://user@host[:port], local, lightsail[:NAME]
options: --key FILE (ssh private key)  --opcache on|off (default off)  --dtrace on|off (default on)
         --exporter-version X.Y.Z  --prometheus release|package  --mirror DIR|URL
lightsail: --region R  --bundle B (default small_3_0)  --blueprint ubuntu_22_04|ubuntu_24_04|debian_12
         --allow-from CIDR (ports 22/80/3000; default everyone)  --config FILE (JSON/YAML: region, bundle,
         count, prefix, allowFrom)  --yes (skip the cost confirmation)
exit codes: 0 ok, 1 a step or check failed, 2 bad input
ebpf-lab --version (or: version) prints the version; --help (or: help) this text`;

const COMMANDS = [
  'up',
  'plan',
  'verify',
  'status',
  'down',
  'ssh',
  'workshop',
  'doctor',
  'load',
  'bench',
  'deadcode',
  'inject-latency',
  'help',
  'version',
];

function list(v: string | undefined): string[] | undefined {
  return v === undefined
    ? undefined
    : v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        target: { type: 'string', short: 't' },
        only: { type: 'string' },
        skip: { type: 'string' },
        output: { type: 'string', short: 'o' },
        diff: { type: 'boolean' },
        key: { type: 'string' },
        opcache: { type: 'string' },
        dtrace: { type: 'string' },
        'exporter-version': { type: 'string' },
        prometheus: { type: 'string' },
        mirror: { type: 'string' },
        yes: { type: 'boolean', short: 'y' },
        region: { type: 'string' },
        bundle: { type: 'string' },
        blueprint: { type: 'string' },
        'allow-from': { type: 'string', multiple: true },
        count: { type: 'string' },
        prefix: { type: 'string' },
        ttl: { type: 'string' },
        expired: { type: 'boolean' },
        'show-password': { type: 'boolean' },
        config: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        job: { type: 'boolean' },
        since: { type: 'string' },
        start: { type: 'boolean' },
        stop: { type: 'boolean' },
        'opcache-off': { type: 'boolean' },
        to: { type: 'string' },
        delay: { type: 'string' },
        clear: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (e) {
    throw new UserError((e as Error).message.split('\n')[0]!, 'run `ebpf-lab help` for the flags each command takes');
  }
  const { values: v, positionals } = parsed;
  const cmd = v.version ? 'version' : (positionals[0] ?? 'help');
  if (v.help || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (!COMMANDS.includes(cmd)) throw new UserError(`unknown command "${cmd}"`, `commands: ${COMMANDS.join(', ')}`);
  if (cmd === 'version') {
    process.stdout.write(JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')).version + '\n');
    return 0;
  }
  if (v.output !== undefined && !['tty', 'plain', 'json'].includes(v.output))
    throw new UserError(
      `--output must be tty, plain or json, not "${v.output}"`,
      'plain for logs and CI, json for one summary object on stdout; leave it out to pick tty or plain automatically',
    );
  // Files and directories the user names: checked before anything is read in full or written.
  await checkLabHome();
  if (v.key !== undefined) await checkKeyFile(v.key);
  if (v.config !== undefined) await checkConfigFile(v.config);
  const extra = positionals.slice(1);
  if (extra.length && cmd !== 'ssh' && !(cmd === 'workshop' && extra.length === 1))
    throw new UserError(`unexpected argument "${extra[0]}"`, 'options start with --, e.g. --target sandbox');
  const options: Omit<LabOptions, 'prometheusSource'> & Partial<Pick<LabOptions, 'prometheusSource'>> = {
    opcache: onOff('opcache', v.opcache, DEFAULT_OPTIONS.opcache),
    dtrace: onOff('dtrace', v.dtrace, DEFAULT_OPTIONS.dtrace),
    exporterVersion: exporterVersion(v['exporter-version']),
    prometheusSource: prometheusSource(v.prometheus),
    mirror: v.mirror,
  };
  const write = (s: string) => process.stdout.write(s + '\n');
  const lightsail = {
    region: v.region,
    bundle: v.bundle,
    blueprint: v.blueprint,
    allowFrom: v['allow-from'],
    count: v.count,
    prefix: v.prefix,
    ttl: v.ttl,
    expired: v.expired,
    config: v.config,
    yes: v.yes,
  };
  setLightsailFlags(lightsail);
  switch (cmd) {
    case 'workshop':
      return (await import('./commands/workshop.js')).workshopCommand(
        {
          sub: extra[0],
          flags: lightsail,
          only: list(v.only),
          skip: list(v.skip),
          options: { ...options, prometheusSource: options.prometheusSource ?? 'release' },
          output: v.output,
        },
        write,
      );
    case 'status':
      return statusCommand(v.output, write, { showPassword: v['show-password'] });
    case 'down':
      return downCommand(v.target, write);
    case 'doctor':
      return (await import('./commands/doctor.js')).doctorCommand(
        { target: v.target, keyPath: v.key, output: v.output },
        write,
      );
    case 'load':
      return (await import('./commands/load.js')).loadCommand(
        { target: v.target, keyPath: v.key, rate: v.rate, duration: v.duration, job: v.job, output: v.output },
        write,
      );
    case 'bench':
      return (await import('./commands/bench.js')).benchCommand(
        { target: v.target, keyPath: v.key, duration: v.duration, output: v.output },
        write,
      );
    case 'deadcode':
      return (await import('./commands/deadcode.js')).deadcodeCommand(
        {
          target: v.target,
          keyPath: v.key,
          since: v.since,
          start: v.start,
          stop: v.stop,
          opcacheOff: v['opcache-off'],
          output: v.output,
        },
        write,
      );
    case 'inject-latency':
      return (await import('./commands/latency.js')).latencyCommand(
        { target: v.target, keyPath: v.key, to: v.to, delay: v.delay, clear: v.clear },
        write,
      );
    case 'ssh':
      return sshCommand(v.target ?? extra[0]);
    default:
      return runCommand({
        mode: cmd as 'up' | 'plan' | 'verify',
        target: v.target,
        only: list(v.only),
        skip: list(v.skip),
        output: v.output,
        diff: Boolean(v.diff),
        keyPath: v.key,
        options,
      });
  }
}

export function report(e: unknown): number {
  e = localFsError(e, () => process.env['EBPF_LAB_HOME'] || join(homedir(), '.ebpf-lab')) ?? e; // a full or read-only disk here: said as such, not as a bug
  if (e instanceof UserError) {
    process.stderr.write(redactUrls(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`));
    return 2;
  }
  const err = e as Error;
  // A failed command or a post-condition that did not hold (e.g. a sandbox whose sshd never
  // answered, with its log tail): the message says what happened; not a bug in ebpf-lab.
  if (err?.name === 'CommandError' || err?.name === 'VerifyError' || err?.name === 'HostError') {
    const hint = (err as { hint?: string }).hint;
    process.stderr.write(redactUrls(`error: ${err.message}\n${hint ? `hint: ${hint}\n` : ''}`));
    return 1;
  }
  process.stderr.write(
    `internal error (a bug in ebpf-lab; please report it with this output):\n${err?.stack ?? String(e)}\n`,
  );
  return 1;
}
