// Substitute: the Lightsail API is aws-sdk-client-mock driving a small in-memory account
// (instances, key pairs, ports); provisioning is a stub. Files and registry are real (tmp home).
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { secretPath } from '../../src/secrets.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateInstancesCommand,
  DeleteInstanceCommand,
  DeleteKeyPairCommand,
  GetInstanceAccessDetailsCommand,
  ImportKeyPairCommand,
  LightsailClient,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { DEFAULT_OPTIONS } from '../../src/options.js';
import { labTags } from '../../src/cloud/tags.js';
import type { LightsailFlags } from '../../src/targets/lightsail-inputs.js';
import type { Interaction } from '../../src/targets/target.js';
import { inquirer } from '../../src/commands/prompt.js';
import { FleetProgress, workshopCommand, workshopDeps, type Provision } from '../../src/commands/workshop.js';
import { lightsailDeps, resetLightsailDeps } from '../../src/targets/lightsail.js';
import { readRegistry } from '../../src/state.js';
import { fakeLightsailAccount } from '../support/lightsail-account.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

/** The fake account (test/support/lightsail-account.ts), IPs from 198.51.100.10 on. */
function fakeAccount() {
  let ip = 10;
  return fakeLightsailAccount(lightsail, { publicIp: () => `198.51.100.${ip++}`, username: 'ubuntu' });
}
/** Each instance's own SSH host key ("type base64"), made once per name. */
const hostKeys = new Map<string, string[]>();
for (const n of ['lab-01', 'lab-02', 'lab-03', 'lab-04', 'lab-99', 'other-01'])
  hostKeys.set(n, ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2));

let home: string;
let out: string[];
let provisioned: string[];
let account: ReturnType<typeof fakeAccount>;
let io: Interaction;
const write = (s: string) => out.push(s);
const run = (sub: string, flags: LightsailFlags) =>
  workshopCommand(
    { sub, flags: { region: 'eu-central-1', ...flags }, options: DEFAULT_OPTIONS, output: 'plain', io },
    write,
  );
const creates = () => lightsail.commandCalls(CreateInstancesCommand).map((c) => c.args[0].input.instanceNames![0]);

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'ebpf-lab-ws-'));
  process.env['EBPF_LAB_HOME'] = home;
  out = [];
  provisioned = [];
  lightsail.reset();
  account = fakeAccount();
  Object.assign(lightsailDeps, {
    makeClient: () => client,
    cloud: { sleep: async () => {} },
    portWait: { connect: async () => {} },
  });
  workshopDeps.provision = async (ep, r) => {
    provisioned.push(ep.name);
    r.emit({ kind: 'step:start', id: 'preflight', title: 'Preflight' });
    return true;
  };
  io = { isTTY: () => false, prompter: inquirer };
});

afterEach(async () => {
  resetLightsailDeps();
  delete process.env['EBPF_LAB_HOME'];
  await rm(home, { recursive: true, force: true });
});

describe('workshop up: inputs are validated before anything is created', () => {
  it.each([
    [{ count: '0', yes: true }, /count must be between 1 and 20, got 0/],
    [{ count: '21', yes: true }, /count must be between 1 and 20, got 21/],
    [{ count: 'many', yes: true }, /--count must be a whole number/],
    [{ count: '2', prefix: 'Lab_1', yes: true }, /prefix "Lab_1" is not allowed/],
    [{ count: '2', bundle: 'huge_9_9', yes: true }, /"huge_9_9" is not an active Linux bundle/],
    [{ count: '2', ttl: 'forever', yes: true }, /--ttl "forever" is not a duration/],
    [{ count: '2', allowFrom: ['nowhere'], yes: true }, /--allow-from "nowhere" is not a CIDR/],
    [{ yes: true }, /--count is required/],
  ])('%o → exit 2, nothing created', async (flags, message) => {
    const err = await run('up', flags).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(message);
    expect(creates()).toEqual([]);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
  });

  it('refuses an unknown region naming the valid ones', async () => {
    await expect(run('up', { count: '2', region: 'xx-north-9', yes: true })).rejects.toThrow(
      /"xx-north-9" is not a Lightsail region/,
    );
    expect(creates()).toEqual([]);
  });

  it('without a terminal and without --yes: prints the cost, refuses (exit 2), creates nothing', async () => {
    const err = await run('up', { count: '2' }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.hint).toMatch(/--yes/);
    expect(out).toContain(
      'estimated cost: 2 × small_3_0 ($12.00/month each): $0.03/hour, $0.79/day for the fleet (USD, before data transfer)',
    );
    expect(creates()).toEqual([]);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
  });

  it('on a terminal asks to confirm with the fleet cost; "no" creates nothing', async () => {
    io.isTTY = () => true;
    const asked: string[] = [];
    const saved = io.prompter;
    io.prompter = {
      ...saved,
      confirm: async (o) => (asked.push(o.message), false),
      select: async () => 'small_3_0' as never,
    };
    try {
      expect(await run('up', { count: '30', prefix: 'php' }).catch((e) => e)).toBeInstanceOf(UserError); // 30 > 20
      io.prompter = { ...io.prompter, confirm: async (o) => (asked.push(o.message), false) };
      expect(await run('up', { count: '20', prefix: 'php', bundle: 'small_3_0' })).toBe(1);
    } finally {
      io.prompter = saved;
    }
    expect(asked).toEqual([
      'Create 20 Lightsail instance(s) at 20 × small_3_0 ($12.00/month each): $0.33/hour, $7.89/day for the fleet (USD, before data transfer)?',
    ]);
    expect(out).toContain('cancelled: nothing was created');
    expect(creates()).toEqual([]);
  });

  it('refuses when a wanted name is taken by something else', async () => {
    account.instances.set('lab-02', { name: 'lab-02', state: { name: 'running' }, tags: [] });
    await expect(run('up', { count: '3', yes: true })).rejects.toThrow(
      /lab-02 already exist\(s\) in eu-central-1 and not as this workshop's labs/,
    );
    expect(creates()).toEqual([]);
  });
});

describe('workshop up: parallel labs, per-lab logs, failures isolated, re-run finishes the rest', () => {
  it('provisions every lab, reports each, and a re-run only redoes the failed one', async () => {
    const real = workshopDeps.provision;
    const failing: Provision = async (ep, r) => {
      if (ep.name === 'lab-02') {
        provisioned.push(ep.name);
        r.emit({ kind: 'note', line: 'lab-02 exploded on purpose' });
        return false;
      }
      if (ep.name === 'lab-03') throw new Error('ssh refused');
      return real(ep, r);
    };
    workshopDeps.provision = failing;
    expect(await run('up', { count: '4', yes: true, ttl: '8h' })).toBe(1);
    expect(creates().sort()).toEqual(['lab-01', 'lab-02', 'lab-03', 'lab-04']);
    expect(provisioned.sort()).toEqual(['lab-01', 'lab-02', 'lab-04']);
    const table = out.filter((l) => /^[✓✗] /.test(l));
    expect(table).toHaveLength(4);
    expect(table.find((l) => l.includes('lab-02'))).toMatch(/✗ lab-02\s+FAILED\s+a step failed \(see .*lab-02\.log\)/);
    expect(table.find((l) => l.includes('lab-03'))).toMatch(/✗ lab-03\s+FAILED\s+ssh refused/);
    expect(table.find((l) => l.includes('lab-04'))).toMatch(/✓ lab-04\s+ok\s+ubuntu@198\.51\.100\.\d+/);
    expect(out).toContain('lab-04: preflight');
    // each lab has its own log, with the cloud notes and the steps' output
    const log2 = await readFile(join(home, 'workshop', 'lab', 'lab-02.log'), 'utf8');
    expect(log2).toMatch(/lab-02: creating instance/);
    expect(log2).toMatch(/lab-02 exploded on purpose/);
    expect(log2).not.toMatch(/lab-01/);
    expect((await stat(join(home, 'workshop', 'lab', 'lab-01.log'))).mode & 0o077).toBe(0);
    // TTL tag on every instance
    expect([...account.instances.values()].every((i) => i.tags?.some((t) => t.key === 'ebpf-lab:expires'))).toBe(true);
    const reg = (await readRegistry()).labs;
    expect(reg['lightsail:lab-01']).toMatchObject({ kind: 'lightsail', region: 'eu-central-1', lastRun: { ok: true } });
    expect(reg['lightsail:lab-02']!.lastRun!.ok).toBe(false);
    expect(reg['lightsail:lab-03']!.lastRun).toBeUndefined();

    workshopDeps.provision = real;
    provisioned = [];
    out = [];
    expect(await run('up', { count: '4' })).toBe(0); // nothing to create: no confirmation needed
    expect(creates()).toHaveLength(4);
    expect(provisioned.sort()).toEqual(['lab-02', 'lab-03']);
    expect(out[0]).toBe('workshop "lab" in eu-central-1: 4 lab(s): 0 to create, 2 to finish, 2 ready');
    expect(out.filter((l) => /^✓ /.test(l))).toHaveLength(4);
  });
});

describe('workshop roster and down', () => {
  beforeEach(async () => {
    expect(await run('up', { count: '2', yes: true })).toBe(0);
    account.instances.set('other-01', {
      name: 'other-01',
      state: { name: 'running' },
      publicIpAddress: '192.0.2.9',
      tags: labTags('other-01'),
    });
    account.instances.set('lab-99', {
      name: 'lab-99',
      state: { name: 'running' },
      publicIpAddress: '192.0.2.8',
      tags: [],
    });
    out = [];
  });

  it('roster prints and writes roster.csv and roster.md (0600) with one row per lab', async () => {
    await mkdir(join(home, 'secrets'), { recursive: true });
    await writeFile(secretPath('lightsail:lab-01', 'grafana'), 'pw-one\n'); // where the grafana step's secret lands
    expect(await run('roster', {})).toBe(0);
    const dir = join(home, 'workshop', 'lab');
    const csv = (await readFile(join(dir, 'roster.csv'), 'utf8')).trim().split('\r\n');
    expect(csv[0]).toBe('lab,ip,grafana_url,grafana_password,ssh');
    expect(csv).toHaveLength(3);
    const ip1 = account.instances.get('lab-01')!.publicIpAddress!;
    expect(csv[1]).toBe(
      `lab-01,${ip1},http://${ip1}:3000/,pw-one,ssh -i ${join(home, 'keys', 'ebpf-lab-lab-01')} ubuntu@${ip1}`,
    );
    expect(csv[2]).toMatch(/^lab-02,198\.51\.100\.\d+,http:\/\/198\.51\.100\.\d+:3000\/,,ssh -i /);
    const md = await readFile(join(dir, 'roster.md'), 'utf8');
    expect(md.split('\n').filter((l) => l.startsWith('| lab-'))).toHaveLength(2);
    expect(md).toContain('`pw-one`');
    expect((await stat(join(dir, 'roster.csv'))).mode & 0o777).toBe(0o600);
    expect(out.join('\n')).toContain('| lab-01 |');
  });

  it('down --expired deletes only expired labs of the prefix', async () => {
    account.instances.get('lab-02')!.tags = labTags('lab-02', { expiresAt: new Date(Date.now() - 60_000) });
    account.instances.get('lab-01')!.tags = labTags('lab-01', { expiresAt: new Date(Date.now() + 3_600_000) });
    expect(await run('down', { expired: true, yes: true })).toBe(0);
    expect(lightsail.commandCalls(DeleteInstanceCommand).map((c) => c.args[0].input.instanceName)).toEqual(['lab-02']);
    expect([...account.instances.keys()].sort()).toEqual(['lab-01', 'lab-99', 'other-01']);
  });

  it('down without a terminal and without --yes deletes nothing (exit 2, says --yes); on a terminal it asks', async () => {
    const err = await run('down', {}).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/not deleting 2 Lightsail lab\(s\) of "lab" in eu-central-1 \(lab-01, lab-02\)/);
    expect(err.hint).toMatch(/--yes/);
    const asked: string[] = [];
    io = { isTTY: () => true, prompter: { ...inquirer, confirm: async (o) => (asked.push(o.message), false) } };
    expect(await run('down', {}).catch((e) => e)).toBeInstanceOf(UserError);
    expect(asked).toEqual(['Delete 2 Lightsail lab(s) of "lab" in eu-central-1 (lab-01, lab-02)?']);
    expect(lightsail.commandCalls(DeleteInstanceCommand)).toHaveLength(0);
    expect(lightsail.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it('down deletes every lab of the prefix and its key pair, nothing else, and forgets them (known-hosts lines too)', async () => {
    const line = (host: string, name: string) => `${host} ${hostKeys.get(name)!.join(' ')}`;
    const ip = (name: string) => account.instances.get(name)!.publicIpAddress!;
    const kh = join(home, 'known_hosts');
    await writeFile(
      kh,
      [
        line(ip('lab-01'), 'lab-01'),
        line(ip('lab-02'), 'lab-02'),
        line('192.0.2.9', 'other-01'),
        line('192.0.2.8', 'lab-99'),
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // what Lightsail reports for each instance's host keys (read before the delete)
    lightsail.on(GetInstanceAccessDetailsCommand).callsFake(async ({ instanceName }) => ({
      accessDetails: {
        hostKeys: [{ algorithm: hostKeys.get(instanceName)![0], publicKey: hostKeys.get(instanceName)![1] }],
      },
    }));
    expect(await run('down', { yes: true })).toBe(0);
    expect(await readFile(kh, 'utf8')).toBe(`${line('192.0.2.9', 'other-01')}\n${line('192.0.2.8', 'lab-99')}\n`);
    expect(
      lightsail
        .commandCalls(DeleteInstanceCommand)
        .map((c) => c.args[0].input.instanceName)
        .sort(),
    ).toEqual(['lab-01', 'lab-02']);
    expect(
      lightsail
        .commandCalls(DeleteKeyPairCommand)
        .map((c) => c.args[0].input.keyPairName)
        .sort(),
    ).toEqual(['ebpf-lab-lab-01', 'ebpf-lab-lab-02']);
    expect([...account.instances.keys()].sort()).toEqual(['lab-99', 'other-01']);
    expect(Object.keys((await readRegistry()).labs)).toEqual([]);
    expect(await run('down', {})).toBe(0);
    expect(out.at(-1)).toBe('no labs of "lab" in eu-central-1; nothing to delete');
  });

  it('an unknown sub-command is a UserError', async () => {
    await expect(run('destroy', {})).rejects.toBeInstanceOf(UserError);
  });
});

describe('FleetProgress', () => {
  it('on a terminal redraws one row per lab in place; otherwise prints one line per phase change', () => {
    const drawn: string[] = [];
    const p = new FleetProgress(['lab-01', 'lab-02'], {
      tty: true,
      stream: { write: (s: string) => drawn.push(s), columns: 80 },
      write: () => {},
    });
    p.set('lab-01', 'cloud');
    p.event('lab-01', { kind: 'step:start', id: 'packages', title: 'Packages' });
    p.event('lab-01', { kind: 'step:progress', id: 'packages', line: 'unpacking   clang' });
    p.finish();
    p.finish();
    expect(drawn[0]).toMatch(/^\x1b\[2Klab-01\s+packages\s+\d+s {2}unpacking clang\n\x1b\[2Klab-02\s+queued\s+\n$/);
    expect(drawn[1]!.startsWith('\x1b[2A')).toBe(true);

    const lines: string[] = [];
    const q = new FleetProgress(['lab-01'], { tty: false, stream: { write: () => {} }, write: (s) => lines.push(s) });
    q.set('lab-01', 'cloud');
    q.event('lab-01', { kind: 'note', line: 'lab-01: pending' });
    q.event('lab-01', { kind: 'step:start', id: 'php', title: 'PHP' });
    q.event('lab-01', {
      kind: 'step:end',
      result: { id: 'php', title: 'PHP', status: 'failed', changes: [], notes: [], evidence: [], durationMs: 1 },
    });
    q.finish();
    expect(lines).toEqual(['lab-01: cloud', 'lab-01: php', 'lab-01: php FAILED']);
  });
});
