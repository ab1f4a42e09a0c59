/**
 * Running a sandbox: boot systemd-nspawn detached, find the container's PID 1, start the
 * 127.0.0.1 -> container:22 forwarder, wait for sshd, and stop it all again.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { VerifyError } from '../errors.js';
import {
  findContainerLeader,
  freeLoopbackPort,
  pidAlive,
  portInUse,
  procCmdline,
  sleep,
  spawnDetached,
  sshBanner,
  tailFile,
} from './sandbox-proc.js';
import { inCgroups, removeCgroups, sandboxCgroups } from './sandbox-cgroup.js';
import {
  SERVICE_FORWARDS,
  forwarderArgv,
  isOurForwarder,
  isOurNspawn,
  nspawnArgv,
  type ForwardedService,
} from './sandbox-spec.js';

/** What sandbox.json records about a sandbox (and its processes, while running). */
export interface SandboxRecord {
  version: 1;
  name: string;
  machine: string;
  dir: string;
  rootfs: string;
  port: number;
  keyPath: string;
  hostKeys: string[];
  repoDir: string;
  /** The OS id (SANDBOX_OSES), e.g. 'ubuntu-22.04'; records without it are Debian 12. */
  os: string;
  createdAt: string;
  nspawnPid?: number;
  leaderPid?: number;
  forwarderPid?: number;
  /** Loopback forwards of the lab's web pages, Grafana and Prometheus (SERVICE_FORWARDS). */
  forwards?: { service: ForwardedService; to: number; port: number; pid?: number }[];
  bootedAt?: string;
}

export const nspawnLog = (rec: SandboxRecord) => path.join(rec.dir, 'nspawn.log');
const propagateDir = (rec: SandboxRecord) => path.join('/run/systemd/nspawn/propagate', rec.machine);
const forwarderLog = (rec: SandboxRecord) => path.join(rec.dir, 'forwarder.log');

/** True if the recorded nspawn pid is alive and really is this sandbox's nspawn. */
export async function nspawnRunning(rec: SandboxRecord): Promise<boolean> {
  if (!rec.nspawnPid || !(await pidAlive(rec.nspawnPid))) return false;
  return isOurNspawn(await procCmdline(rec.nspawnPid), rec.rootfs, rec.machine);
}

/** True if the recorded forwarder is alive, ours, and points at the current PID 1. */
export async function forwarderRunning(rec: SandboxRecord): Promise<boolean> {
  if (!rec.forwarderPid || !rec.leaderPid || !(await pidAlive(rec.forwarderPid))) return false;
  if (!(await pidAlive(rec.leaderPid))) return false;
  return isOurForwarder(await procCmdline(rec.forwarderPid), rec.port, rec.leaderPid);
}

async function bootFailure(rec: SandboxRecord, what: string): Promise<never> {
  const tail = (await tailFile(nspawnLog(rec), 25)).split('\n').filter((l) => l.trim() !== '');
  const shown = tail.slice(-10).map((l) => '  | ' + l);
  throw new VerifyError([`sandbox ${rec.name}: ${what}; ${nspawnLog(rec)} ends with:`, ...shown].join('\n'), tail);
}

/**
 * The container gets the unified cgroup hierarchy (cgroup v2) even on a host booted with
 * the legacy or hybrid layout: systemd 258+ (Ubuntu 26.04) no longer runs on cgroup v1 and
 * 256+ (Debian 13) only reluctantly.
 */
const NSPAWN_ENV = { SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' };

/**
 * Start the container detached; fills nspawnPid and leaderPid. `persist` records the pid as
 * soon as it exists, so a run killed while the container boots leaves it known.
 */
export async function bootContainer(rec: SandboxRecord, persist?: () => Promise<void>): Promise<void> {
  if (!existsSync(rec.repoDir)) throw new Error(`local repo ${rec.repoDir} is missing`);
  await rm(propagateDir(rec), { recursive: true, force: true });
  const cgroups = await sandboxCgroups(rec.machine);
  await removeCgroups(cgroups); // left by a container that was killed
  const pid = spawnDetached(
    inCgroups(cgroups, nspawnArgv({ rootfs: rec.rootfs, machine: rec.machine, repoDir: rec.repoDir })),
    nspawnLog(rec),
    NSPAWN_ENV,
  );
  rec.nspawnPid = pid;
  rec.bootedAt = new Date().toISOString();
  delete rec.leaderPid;
  await persist?.();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (!(await pidAlive(pid))) await bootFailure(rec, 'systemd-nspawn exited during start');
    const leader = await findContainerLeader(pid);
    if (leader) {
      rec.leaderPid = leader;
      return;
    }
    await sleep(50);
  }
  await bootFailure(rec, "the container's systemd did not start within 20 s");
}

/** (Re)start the forwarder on rec.port, or on a new free port if that one is taken. */
export async function startForwarder(rec: SandboxRecord): Promise<void> {
  if (!rec.leaderPid) throw new Error('startForwarder: container PID 1 unknown');
  if (!rec.port || (await portInUse(rec.port))) rec.port = await freeLoopbackPort();
  rec.forwarderPid = spawnDetached(forwarderArgv(rec.port, rec.leaderPid), forwarderLog(rec));
}

/**
 * Wait until sshd's banner comes through the forwarder. A forwarder that lost a port
 * race is restarted on another port; a dead container fails with its log tail.
 */
export async function waitForSsh(rec: SandboxRecord, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let restarts = 0;
  while (Date.now() < deadline) {
    if (!(await nspawnRunning(rec))) await bootFailure(rec, 'the container stopped while waiting for sshd');
    if (!(await pidAlive(rec.forwarderPid))) {
      if (++restarts > 3) await bootFailure(rec, `the SSH forwarder keeps exiting (see ${forwarderLog(rec)})`);
      rec.port = 0;
      await startForwarder(rec);
      await sleep(100);
      continue;
    }
    if (await sshBanner(rec.port)) return;
    await sleep(100);
  }
  await bootFailure(rec, `sshd did not answer on 127.0.0.1:${rec.port} within ${timeoutMs / 1000} s`);
}

/** Send `sig` to a process we recorded; false if it was already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await pidAlive(pid))) return true;
    await sleep(50);
  }
  return !(await pidAlive(pid));
}

/** Kill the forwarder's process group (the listener and its per-connection children). */
export async function stopForwarder(rec: SandboxRecord): Promise<void> {
  const pid = rec.forwarderPid;
  const argv = pid && (await pidAlive(pid)) ? await procCmdline(pid) : undefined;
  const ours = rec.leaderPid
    ? isOurForwarder(argv, rec.port, rec.leaderPid, true)
    : argv?.[0]?.endsWith('socat') === true && argv[1]?.startsWith(`TCP-LISTEN:${rec.port},`) === true;
  if (pid && ours) {
    // spawnDetached made it a session (and group) leader, so -pid is exactly its group.
    if (!signal(-pid, 'SIGTERM')) signal(pid, 'SIGTERM');
    if (!(await waitGone(pid, 3000))) signal(-pid, 'SIGKILL');
  }
  delete rec.forwarderPid;
}

/** Kill a forwarder we started (its whole process group), if `pid` still runs `argv`-checked socat. */
async function stopOne(pid: number | undefined, ours: (argv: string[] | undefined) => boolean): Promise<void> {
  const argv = pid && (await pidAlive(pid)) ? await procCmdline(pid) : undefined;
  if (pid && ours(argv)) {
    if (!signal(-pid, 'SIGTERM')) signal(pid, 'SIGTERM');
    if (!(await waitGone(pid, 3000))) signal(-pid, 'SIGKILL');
  }
}

/**
 * (Re)start the loopback forwards of the web pages, Grafana and Prometheus: each keeps its
 * port while that port is free, so the URLs a user opened stay valid across `up`s.
 */
export async function ensureServiceForwards(rec: SandboxRecord): Promise<void> {
  if (!rec.leaderPid) throw new Error('ensureServiceForwards: container PID 1 unknown');
  const leader = rec.leaderPid;
  const old = new Map((rec.forwards ?? []).map((f) => [f.service, f]));
  const next: NonNullable<SandboxRecord['forwards']> = [];
  for (const { service, to } of SERVICE_FORWARDS) {
    const f = old.get(service);
    if (f?.pid && (await pidAlive(f.pid)) && isOurForwarder(await procCmdline(f.pid), f.port, leader, false, to)) {
      next.push(f);
      continue;
    }
    await stopOne(
      f?.pid,
      (argv) => argv?.[0]?.endsWith('socat') === true && argv[1]?.startsWith(`TCP-LISTEN:${f?.port},`) === true,
    );
    const port = f?.port && !(await portInUse(f.port)) ? f.port : await freeLoopbackPort();
    const pid = spawnDetached(forwarderArgv(port, leader, false, to), path.join(rec.dir, `forward-${service}.log`));
    next.push({ service, to, port, pid });
  }
  rec.forwards = next;
}

async function stopServiceForwards(rec: SandboxRecord): Promise<void> {
  for (const f of rec.forwards ?? [])
    await stopOne(
      f.pid,
      (argv) => argv?.[0]?.endsWith('socat') === true && argv[1]?.startsWith(`TCP-LISTEN:${f.port},`) === true,
    );
  for (const f of rec.forwards ?? []) delete f.pid;
}

/** Halt the container: SIGTERM to nspawn (clean poweroff), SIGKILL after 15 s. */
export async function stopContainer(rec: SandboxRecord): Promise<void> {
  await stopForwarder(rec);
  await stopServiceForwards(rec);
  const pid = rec.nspawnPid;
  if (pid && (await nspawnRunning(rec))) {
    signal(pid, 'SIGTERM');
    if (!(await waitGone(pid, 15_000))) {
      signal(pid, 'SIGKILL');
      if (!(await waitGone(pid, 5000))) throw new Error(`systemd-nspawn (pid ${pid}) does not exit`);
    }
  }
  delete rec.nspawnPid;
  delete rec.leaderPid;
  await removeCgroups(await sandboxCgroups(rec.machine));
  // The host's /run is not a tmpfs here and nspawn refuses to clean this up itself.
  await rm(propagateDir(rec), { recursive: true, force: true });
}
