/**
 * The `sandbox` target: a local container of a real distribution release (Ubuntu 22.04 by
 * default; systemd-nspawn, own network namespace) reachable over SSH on 127.0.0.1:<port>,
 * with a local apt repository bound read-only at /srv/ebpf-lab-repo. State lives in
 * <home>/sandboxes/<name>/sandbox.json, which records the sandbox's OS.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ensureHostTools } from './host-tools.js';
import {
  bootContainer,
  ensureServiceForwards,
  forwarderRunning,
  nspawnRunning,
  startForwarder,
  stopContainer,
  stopForwarder,
  waitForSsh,
  type SandboxRecord,
} from './sandbox-boot.js';
import {
  ensureBase,
  ensureRepo,
  mountedUnder,
  removeTree,
  repoPath,
  withLock,
  type ArchiveSource,
} from './sandbox-image.js';
import { DEFAULT_SANDBOX_OS, sandboxOs, type SandboxOs } from './sandbox-os.js';
import { UserError } from '../errors.js';
import { findContainerLeader, mountsUnder, pidAlive, procCmdline, run, sleep, sshBanner } from './sandbox-proc.js';
import {
  isOurNspawn,
  hostKeyLine,
  machineName,
  passwdEntry,
  sortHostKeys,
  validatePackages,
  validateSandboxName,
  type ForwardedService,
} from './sandbox-spec.js';

export { ensureHostTools };

export interface SandboxOptions {
  /** Sandbox name, e.g. 'default': /^[a-z0-9][a-z0-9-]{0,30}$/. */
  name: string;
  /** ebpf-lab state dir; the sandbox lives in <home>/sandboxes/<name>/. */
  home: string;
  /** Shared cache for the base rootfs and local apt repos (reused by many sandboxes). */
  cacheDir: string;
  /** `--os` (an id of SANDBOX_OSES); undefined: the sandbox's own OS, or the default for a new one. */
  os?: string;
  /** Archive mirror for the base and repository (EBPF_LAB_APT_MIRROR); undefined: the OS's own archive. */
  mirror?: string;
  /**
   * Packages the local repo must serve (dependencies resolved against the base), for the
   * sandbox's OS; `a|b` alternatives take the first the archive has.
   */
  packages: readonly string[] | ((os: SandboxOs) => readonly string[]);
  /** Progress lines. */
  log: (line: string) => void;
  /**
   * A sandbox already running with its SSH forwarder is returned without first waiting for
   * sshd's banner: the caller's own connection is that check, and when it fails the caller
   * asks {@link sandboxSshReady}, which waits as a boot does (and restarts the forwarder).
   */
  connectFirst?: boolean;
}

export interface SandboxInfo {
  name: string;
  dir: string;
  host: '127.0.0.1';
  port: number;
  user: 'root';
  /** Private key (0600) that logs in as root, lab (sudo NOPASSWD) and nosudo. */
  keyPath: string;
  /** The container's sshd host keys as OpenSSH lines 'ssh-ed25519 AAAA…', for pinning. */
  hostKeys: string[];
  nspawnPid: number;
  /** The sandbox's OS id, e.g. 'ubuntu-22.04'. */
  os: string;
  /** The lab's pages, Grafana and Prometheus, forwarded to this machine's loopback. */
  urls: Partial<Record<ForwardedService, string>>;
}

type SandboxRef = { name: string; home: string };

const sandboxDir = (home: string, name: string) => path.join(path.resolve(home), 'sandboxes', name);
const recordPath = (dir: string) => path.join(dir, 'sandbox.json');

async function readRecord(dir: string): Promise<SandboxRecord | undefined> {
  try {
    const rec = JSON.parse(await readFile(recordPath(dir), 'utf8')) as SandboxRecord;
    // Sandboxes made before --os existed were Debian 12.
    return rec.version === 1 && existsSync(rec.rootfs) ? { ...rec, os: rec.os ?? 'debian-12' } : undefined;
  } catch {
    return undefined;
  }
}

async function writeRecord(rec: SandboxRecord): Promise<void> {
  const tmp = recordPath(rec.dir) + '.tmp';
  await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, recordPath(rec.dir));
}

function toInfo(rec: SandboxRecord): SandboxInfo {
  if (!rec.nspawnPid) throw new Error(`sandbox ${rec.name} is not running`);
  const { name, dir, port, keyPath, hostKeys, nspawnPid, os } = rec;
  const urls = Object.fromEntries((rec.forwards ?? []).map((f) => [f.service, `http://127.0.0.1:${f.port}/`]));
  return { name, dir, host: '127.0.0.1', port, user: 'root', keyPath, hostKeys, nspawnPid, os, urls };
}

/** Install `pubKey` as the only authorized key of `user` inside the rootfs. */
async function authorize(rootfs: string, user: string, pubKey: string): Promise<void> {
  const passwd = await readFile(path.join(rootfs, 'etc/passwd'), 'utf8');
  const entry = passwdEntry(passwd, user);
  if (!entry) throw new Error(`user ${user} missing in ${rootfs}/etc/passwd`);
  const sshDir = path.join(rootfs, entry.home.replace(/^\//, ''), '.ssh');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await chmod(sshDir, 0o700);
  await chown(sshDir, entry.uid, entry.gid);
  const file = path.join(sshDir, 'authorized_keys');
  await writeFile(file, pubKey, { mode: 0o600 });
  await chown(file, entry.uid, entry.gid);
}

/** Copy the base, give it its own host keys, hostname and login key; write sandbox.json. */
async function create(opts: SandboxOptions, src: ArchiveSource, dir: string, repoDir: string): Promise<SandboxRecord> {
  const mounts = existsSync(dir) ? await mountsUnder(dir) : [];
  if (mounts.length) throw mountedUnder(dir, mounts);
  await stopCopiers(path.join(dir, 'rootfs.tmp'));
  await removeTree(dir); // leftovers of an interrupted create
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const base = await ensureBase(opts.cacheDir, src, opts.log);
  opts.log('copying base root filesystem (a copy takes seconds)');
  const rootfs = path.join(dir, 'rootfs');
  await run(['cp', '-a', '--reflink=auto', base.rootfs, rootfs + '.tmp']);
  await rename(rootfs + '.tmp', rootfs);
  const hostname = `ebpf-lab-${opts.name}`;
  await writeFile(path.join(rootfs, 'etc/hostname'), hostname + '\n');
  await writeFile(
    path.join(rootfs, 'etc/hosts'),
    `127.0.0.1 localhost\n127.0.1.1 ${hostname}\n::1 localhost ip6-localhost ip6-loopback\n`,
  );
  const sshEtc = path.join(rootfs, 'etc/ssh');
  for (const f of await readdir(sshEtc)) {
    if (f.startsWith('ssh_host_')) await removeTree(path.join(sshEtc, f));
  }
  await run(['ssh-keygen', '-A', '-f', rootfs]);
  const pubs = (await readdir(sshEtc)).filter((f) => /^ssh_host_.*_key\.pub$/.test(f));
  const hostKeys = sortHostKeys(
    await Promise.all(pubs.map(async (f) => hostKeyLine(await readFile(path.join(sshEtc, f), 'utf8')))),
  );
  const keyPath = path.join(dir, 'id_ed25519');
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `ebpf-lab-sandbox-${opts.name}`, '-f', keyPath]);
  await chmod(keyPath, 0o600);
  const pub = await readFile(keyPath + '.pub', 'utf8');
  for (const user of ['root', 'lab', 'nosudo']) await authorize(rootfs, user, pub);
  const rec: SandboxRecord = {
    version: 1,
    name: opts.name,
    machine: machineName(opts.name, randomBytes(3).toString('hex')),
    dir,
    rootfs,
    port: 0,
    keyPath,
    hostKeys,
    repoDir,
    os: src.os.id,
    createdAt: new Date().toISOString(),
  };
  await writeRecord(rec);
  return rec;
}

/**
 * Create, boot or reuse the sandbox (idempotent) and return how to reach it over SSH.
 * When it already runs with the same package set this only checks processes and the SSH
 * banner (well under 0.3 s); a dead forwarder is restarted; a stopped container is booted;
 * a changed package set restarts the container with the matching local repository.
 * `systemctl is-system-running --wait` is left to the caller.
 */
export async function sandboxUp(opts: SandboxOptions): Promise<SandboxInfo> {
  validateSandboxName(opts.name);
  const wanted = opts.os === undefined ? undefined : sandboxOs(opts.os);
  const dir = sandboxDir(opts.home, opts.name);
  // Bad input before anything is touched: an OS change on an existing sandbox.
  const existing = await readRecord(dir);
  if (existing && wanted && existing.os !== wanted.id)
    throw new UserError(
      `sandbox ${opts.name} runs ${sandboxOs(existing.os).name}; it cannot become ${wanted.name}`,
      `leave --os out to keep using it, or make another sandbox: ebpf-lab up --target sandbox:${opts.name === 'default' ? 'other' : `${opts.name}-2`} --os ${wanted.id} (or ebpf-lab down --target sandbox:${opts.name} first)`,
    );
  const os = wanted ?? sandboxOs(existing?.os ?? DEFAULT_SANDBOX_OS);
  validatePackages(packagesFor(opts, os));
  await ensureHostTools(opts.log);
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  // One up/down at a time per sandbox (two CLI runs, or a test and a CLI run).
  return withLock(dir, opts.log, () => up(opts, { os, mirror: opts.mirror }, dir));
}

const packagesFor = (opts: SandboxOptions, os: SandboxOs) =>
  typeof opts.packages === 'function' ? opts.packages(os) : opts.packages;

async function up(opts: SandboxOptions, src: ArchiveSource, dir: string): Promise<SandboxInfo> {
  const packages = packagesFor(opts, src.os);
  const repoDir = repoPath(opts.cacheDir, src.os, packages, src.mirror);
  let rec = await readRecord(dir);
  if (rec && (await nspawnRunning(rec))) {
    // The repository it booted with serves as long as it is there and holds the same package
    // set: its name is the hash of OS, packages and mirror, so the same name in another
    // cache (EBPF_LAB_CACHE set for one run and not the next) is the same repository.
    const same = path.basename(rec.repoDir) === path.basename(repoDir) && existsSync(rec.repoDir);
    if (same) {
      if (!(await forwarderRunning(rec))) {
        opts.log(`sandbox ${opts.name}: restarting the SSH forwarder`);
        await stopForwarder(rec);
        rec.leaderPid = (await findContainerLeader(rec.nspawnPid!)) ?? rec.leaderPid;
        await stopStrayForwarders(rec);
        await startForwarder(rec);
        await writeRecord(rec);
        await waitForSsh(rec);
      } else if (!opts.connectFirst) await waitForSsh(rec);
      await ensureServiceForwards(rec);
      await writeRecord(rec);
      return toInfo(rec);
    }
    opts.log(
      `sandbox ${opts.name}: its local repository changed (package set or cache), restarting it with the new one`,
    );
    await stopContainer(rec);
    await writeRecord(rec);
  } else if (rec) {
    await stopForwarder(rec); // a forwarder that outlived its container
    await stopStrays(rec); // a container booted by a run killed before it recorded the pid
  }
  await ensureRepo(opts.cacheDir, src, packages, opts.log);
  if (!rec) {
    opts.log(`creating sandbox ${opts.name} (${src.os.name})`);
    rec = await create(opts, src, dir, repoDir);
  }
  rec.repoDir = repoDir;
  opts.log(`booting sandbox ${opts.name}`);
  const started = Date.now();
  try {
    await bootContainer(rec, () => writeRecord(rec!));
    await writeRecord(rec); // pids first: a failure below can still be cleaned up by down
    await startForwarder(rec);
    await writeRecord(rec);
    await waitForSsh(rec);
    await ensureServiceForwards(rec);
  } catch (e) {
    await stopContainer(rec).catch(() => {});
    await writeRecord(rec);
    throw e;
  }
  await writeRecord(rec);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  opts.log(`sandbox ${opts.name} ready in ${secs} s: ssh -i ${rec.keyPath} -p ${rec.port} root@127.0.0.1`);
  return toInfo(rec);
}

/** Stop the container and forwarder (only the pids we recorded) and delete the sandbox dir. */
export async function sandboxDown(opts: SandboxRef): Promise<boolean> {
  validateSandboxName(opts.name);
  const dir = sandboxDir(opts.home, opts.name);
  if (!existsSync(dir)) return false;
  return withLock(
    dir,
    () => {},
    () => down(dir),
  );
}

async function down(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return false;
  // Not ours to unmount: refuse before stopping anything.
  const mounts = await mountsUnder(dir);
  if (mounts.length) throw mountedUnder(dir, mounts);
  const rec = await readRecord(dir);
  if (rec) {
    await stopContainer(rec);
    await writeRecord(rec);
  }
  if (rec) await stopStrays(rec);
  const rootfs = path.join(dir, 'rootfs');
  const users = await nspawnsUsing(rootfs);
  if (users.length > 0) {
    throw new UserError(
      `not removing ${dir}: systemd-nspawn pid(s) ${users.join(', ')} still use it, and ebpf-lab did not start them`,
      `stop them first (kill ${users.join(' ')}), then run ebpf-lab down again`,
    );
  }
  await removeTree(dir);
  return true;
}

/**
 * A `cp` of an interrupted create that still writes into `dest` (started before children
 * died with ebpf-lab, see dieWithUs): recognised by its argv, killed, waited for.
 */
async function stopCopiers(dest: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await procCmdline(Number(entry));
    if (!argv || path.basename(argv[0] ?? '') !== 'cp' || argv.at(-1) !== dest) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      continue; // gone already
    }
    for (let i = 0; i < 50 && (await pidAlive(Number(entry))); i++) await sleep(100);
  }
}

/**
 * This sandbox's containers that its record does not know: booted by a run that was killed
 * before it wrote the pid down (recognised by argv: this rootfs and this sandbox's own machine
 * name). They are stopped, with the forwarders into them; an unknown nspawn on the rootfs is
 * left alone (down refuses).
 */
async function stopStrays(rec: SandboxRecord): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === rec.nspawnPid) continue;
    const pid = Number(entry);
    if (!isOurNspawn(await procCmdline(pid), rec.rootfs, rec.machine)) continue;
    const stray = { ...rec, nspawnPid: pid, leaderPid: await findContainerLeader(pid) };
    await stopStrayForwarders(stray);
    await stopContainer(stray);
  }
}

/**
 * SSH forwarders into this container that its record does not know (a run killed right after
 * starting one); the recorded forwards of the pages, Grafana and Prometheus are left alone.
 */
async function stopStrayForwarders(rec: SandboxRecord): Promise<void> {
  if (!rec.leaderPid) return;
  const known = new Set([rec.forwarderPid, ...(rec.forwards ?? []).map((f) => f.pid)]);
  for (const f of await readdir('/proc')) {
    if (!/^\d+$/.test(f) || known.has(Number(f))) continue;
    const argv = await procCmdline(Number(f));
    if (argv?.[0]?.endsWith('socat') && argv[2]?.includes(`/proc/${rec.leaderPid}/ns/net `)) {
      const port = Number(/^TCP-LISTEN:(\d+),/.exec(argv[1] ?? '')?.[1]);
      await stopForwarder({ ...rec, forwarderPid: Number(f), port });
    }
  }
}

/** Pids of any systemd-nspawn running on `rootfs` (a safety check before rm -rf). */
async function nspawnsUsing(rootfs: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await procCmdline(Number(entry));
    if (argv?.[0]?.endsWith('systemd-nspawn') && argv[argv.indexOf('-D') + 1] === rootfs) found.push(Number(entry));
  }
  return found;
}

/** The OS of an existing sandbox (its record), or undefined when there is none. */
export async function sandboxOsOf(opts: SandboxRef): Promise<string | undefined> {
  validateSandboxName(opts.name);
  return (await readRecord(sandboxDir(opts.home, opts.name)))?.os;
}

/** 'absent' (no complete sandbox), 'stopped' or 'running' (its nspawn is alive). */
export async function sandboxState(opts: SandboxRef): Promise<'absent' | 'stopped' | 'running'> {
  validateSandboxName(opts.name);
  const rec = await readRecord(sandboxDir(opts.home, opts.name));
  if (!rec) return 'absent';
  return (await nspawnRunning(rec)) ? 'running' : 'stopped';
}

/**
 * For a connection to a running sandbox that failed: waits until sshd's banner comes
 * through (restarting a forwarder that died, as a boot does) and says whether it had to
 * wait at all. A sandbox whose sshd answered at once failed for another reason.
 */
export async function sandboxSshReady(
  opts: SandboxRef & { log: (line: string) => void },
): Promise<{ info: SandboxInfo; waited: boolean }> {
  validateSandboxName(opts.name);
  const dir = sandboxDir(opts.home, opts.name);
  return withLock(dir, opts.log, async () => {
    const rec = await readRecord(dir);
    if (!rec || !(await nspawnRunning(rec))) throw new Error(`sandbox ${opts.name} is not running`);
    if (await sshBanner(rec.port)) return { info: toInfo(rec), waited: false };
    await waitForSsh(rec);
    await writeRecord(rec);
    return { info: toInfo(rec), waited: true };
  });
}

/** How to reach the sandbox, or undefined when it is absent or stopped. */
export async function sandboxInfo(opts: SandboxRef): Promise<SandboxInfo | undefined> {
  validateSandboxName(opts.name);
  const rec = await readRecord(sandboxDir(opts.home, opts.name));
  return rec && (await nspawnRunning(rec)) ? toInfo(rec) : undefined;
}

/** The sandbox's own SSH host keys (OpenSSH lines), also when it is stopped; [] when absent. */
export async function sandboxHostKeys(opts: SandboxRef): Promise<string[]> {
  validateSandboxName(opts.name);
  return (await readRecord(sandboxDir(opts.home, opts.name)))?.hostKeys ?? [];
}
