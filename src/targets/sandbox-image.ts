/**
 * The cached inputs of every sandbox: the base root filesystem (mmdebstrap, ~30 s) and
 * local apt repositories (host apt-get --download-only, seconds). Each is built once
 * into a temp dir and renamed into place, so an interrupted build never looks complete.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withPath } from '../local-fs.js';
import { mountsUnder, pidAlive, run, sleep } from './sandbox-proc.js';
import { REPO_MOUNT, aptNeedsUpdate, baseKey, baseSpec, repoKey, validatePackages } from './sandbox-spec.js';
import { MIRROR_ENV, archiveUnreachable, mirrorArgs, type SandboxOs } from './sandbox-os.js';
import { archiveKeyring } from './sandbox-keyring.js';
import { alternativeMembers, resolveAlternatives } from '../resources/apt.js';
import { CommandError, UserError } from '../errors.js';

export interface BaseImage {
  key: string;
  dir: string;
  rootfs: string;
  /** apt state for resolving packages against this base: lists + sources of its build. */
  aptDir: string;
}

export const basePath = (cacheDir: string, key: string) => path.join(cacheDir, `base-${key}`);
export const repoPath = (cacheDir: string, os: SandboxOs, packages: readonly string[], mirror?: string) =>
  path.join(cacheDir, `repo-${repoKey(baseKey(os, mirror), packages)}`);

/** A directory ebpf-lab would remove has a filesystem mounted under it: never removed through it. */
export function mountedUnder(dir: string, mounts: string[]): UserError {
  return new UserError(
    `${dir} has ${mounts.length > 1 ? 'filesystems' : 'a filesystem'} mounted under it (${mounts.join(', ')}); ebpf-lab never removes files through a mount, so nothing was changed`,
    `unmount it first (umount ${mounts.sort((a, b) => b.length - a.length).join(' && umount ')}), then run again`,
  );
}

/**
 * rm -rf that never descends into a mount point. With `unmount`, mounts left under `dir`
 * by a killed builder are detached first (only used on our own dead temp dirs).
 */
export async function removeTree(dir: string, unmount = false): Promise<void> {
  if (!existsSync(dir)) return;
  let mounts = await mountsUnder(path.resolve(dir));
  if (unmount && mounts.length > 0) {
    for (const m of mounts.sort((a, b) => b.length - a.length)) await run(['umount', '-l', m], { nothrow: true });
    mounts = await mountsUnder(path.resolve(dir));
  }
  if (mounts.length > 0) throw mountedUnder(dir, mounts);
  await run(['rm', '-rf', '--one-file-system', '--', dir]);
}

/**
 * Hold `<final>.lock` while `fn` runs: two processes sharing a cache (parallel CI jobs,
 * a test and a CLI run) wait for one build instead of doing it twice on the same cores.
 */
export async function withLock<T>(final: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = final + '.lock';
  let told = false;
  for (const deadline = Date.now() + 30 * 60_000; ;) {
    try {
      const fh = await open(lock, 'wx');
      try {
        await fh.writeFile(String(process.pid));
      } catch (e) {
        await rm(lock, { force: true }); // a full disk: no empty lock file left behind
        throw withPath(e, lock);
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (holder && holder !== process.pid && (await pidAlive(holder))) {
        if (Date.now() > deadline) throw new Error(`${lock} is still held by pid ${holder} after 30 min`);
        if (!told) log(`waiting for pid ${holder}, which is working on ${path.basename(final)}`);
        told = true;
        await sleep(500);
      } else {
        await rm(lock, { force: true }); // left by a dead process
      }
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Build `final` via `build(tmp)` unless it exists; temp dirs of dead builders are removed. */
async function buildOnce(
  final: string,
  log: (l: string) => void,
  build: (tmp: string) => Promise<void>,
): Promise<void> {
  if (existsSync(final)) return;
  const parent = path.dirname(final);
  await mkdir(parent, { recursive: true });
  await withLock(final, log, async () => {
    if (existsSync(final)) return; // built by the process we waited for
    const prefix = `${path.basename(final)}.tmp-`;
    for (const entry of await readdir(parent)) {
      if (entry.startsWith(prefix) && !(await pidAlive(Number(entry.slice(prefix.length))))) {
        await removeTree(path.join(parent, entry), true).catch((e) => log(`cannot clean ${entry}: ${e}`));
      }
    }
    const tmp = path.join(parent, prefix + process.pid);
    await removeTree(tmp, true);
    await mkdir(tmp, { mode: 0o755 });
    try {
      await build(tmp);
      await rename(tmp, final);
    } catch (e) {
      await removeTree(tmp, true).catch(() => {});
      if (existsSync(final)) return; // finished by a process that did not take the lock
      throw e;
    }
  });
}

/** Where an OS's archive comes from: its default (mmdebstrap knows it) or the user's mirror. */
export interface ArchiveSource {
  os: SandboxOs;
  /** EBPF_LAB_APT_MIRROR: an archive mirror or proxy URL; undefined for the default. */
  mirror?: string;
}

/** The base root filesystem of one OS, built once per cache dir, recipe and mirror. */
export async function ensureBase(cacheDir: string, src: ArchiveSource, log: (l: string) => void): Promise<BaseImage> {
  const key = baseKey(src.os, src.mirror);
  const dir = basePath(cacheDir, key);
  await buildOnce(dir, log, async (tmp) => {
    const keyring = await archiveKeyring(src.os, cacheDir, log);
    log(`building the ${src.os.name} base root filesystem from its archive (about a minute)`);
    const started = Date.now();
    const rootfs = path.join(tmp, 'rootfs');
    await heartbeat(log, `still building the ${src.os.name} base root filesystem`, () =>
      bootstrap(rootfs, src, keyring),
    );
    await keepAptState(rootfs, path.join(tmp, 'apt'));
    await customize(rootfs, src.os);
    const seconds = (Date.now() - started) / 1000;
    const spec = baseSpec(src.os);
    await writeFile(path.join(tmp, 'base.json'), JSON.stringify({ key, spec, seconds }, null, 2) + '\n');
    log(`${src.os.name} base root filesystem built in ${seconds.toFixed(1)} s`);
  });
  return { key, dir, rootfs: path.join(dir, 'rootfs'), aptDir: path.join(dir, 'apt') };
}

/** Runs `fn`, logging `what` every 15 s until it settles (long phases never look hung). */
export async function heartbeat<T>(log: (l: string) => void, what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => log(`${what} (${Math.round((Date.now() - started) / 1000)} s)`), 15_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

async function bootstrap(rootfs: string, src: ArchiveSource, keyring: string): Promise<void> {
  const spec = baseSpec(src.os);
  // Keep the package lists: the repo builds resolve against exactly this snapshot.
  // A private mount namespace: the chroot's /proc, /sys, /dev mounts vanish with the
  // process, even when it is killed (they would otherwise stay on the host).
  const argv = [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    // Not --quiet: apt's own lines (Err:, Failed to fetch ...) are what tells an unreachable
    // archive from other failures; the output is captured, never printed on success.
    'mmdebstrap',
    `--variant=${spec.variant}`,
    `--keyring=${keyring}`,
    `--components=${spec.components.join(',')}`,
    `--include=${spec.include.join(',')}`,
    '--skip=cleanup/apt/lists',
    spec.suite,
    rootfs,
    ...mirrorArgs(src.os, src.mirror),
  ];
  const r = await run(argv, { nothrow: true });
  if (r.exitCode === 0) return;
  if (archiveUnreachable(r.stderr))
    throw new UserError(
      `cannot reach the package archive for the ${src.os.name} sandbox${src.mirror ? ` at ${src.mirror}` : ''}`,
      `check this machine's network or apt proxy (http_proxy), or point ${MIRROR_ENV} at a mirror of ${src.os.name}'s archive (e.g. ${MIRROR_ENV}=http://mirror.example/${src.os.distro})`,
    );
  throw new CommandError(r, 'localhost');
}

/** Move the build's apt lists + sources out of the rootfs, into the cache entry. */
async function keepAptState(rootfs: string, aptDir: string): Promise<void> {
  const lists = path.join(rootfs, 'var/lib/apt/lists');
  await mkdir(path.join(aptDir, 'lists/partial'), { recursive: true });
  await mkdir(path.join(aptDir, 'empty'), { recursive: true });
  for (const f of await readdir(lists)) {
    if (f.includes('_')) await rename(path.join(lists, f), path.join(aptDir, 'lists', f));
  }
  await rm(lists, { recursive: true, force: true });
  await mkdir(lists, { mode: 0o755 });
  // mmdebstrap wrote the archive's sources (release, -updates, -security) for the chroot.
  const sources = path.join(rootfs, 'etc/apt/sources.list');
  const text = existsSync(sources) ? await readFile(sources, 'utf8') : '';
  if (!/^deb /m.test(text)) throw new Error(`mmdebstrap left no apt sources in ${sources}`);
  await writeFile(path.join(aptDir, 'sources.list'), text);
}

/**
 * Container-specific settings: no fstab, users lab (sudo) and nosudo, only the local repo,
 * and dpkg without fsync (a throw-away container: unpacking is several times faster; a real
 * host keeps dpkg's defaults).
 */
async function customize(rootfs: string, os: SandboxOs): Promise<void> {
  const etc = (p: string) => path.join(rootfs, 'etc', p);
  await writeFile(etc('fstab'), '');
  await writeFile(etc('hostname'), 'ebpf-lab\n');
  await writeFile(etc('hosts'), '127.0.0.1 localhost\n127.0.1.1 ebpf-lab\n::1 localhost ip6-localhost ip6-loopback\n');
  await writeFile(etc('apt/sources.list'), `deb [trusted=yes] file:${REPO_MOUNT} ./\n`);
  await rm(etc('apt/sources.list.d'), { recursive: true, force: true });
  await mkdir(etc('apt/sources.list.d'), { mode: 0o755 });
  await mkdir(path.join(rootfs, REPO_MOUNT.slice(1)), { recursive: true });
  await writeFile(etc('dpkg/dpkg.cfg.d/ebpf-lab-sandbox'), '# sandbox only: a throw-away container\nforce-unsafe-io\n');
  for (const user of Object.keys(baseSpec(os).users)) {
    // '*' = no password login, but not "locked" (sshd refuses locked accounts without PAM).
    await run(['chroot', rootfs, 'useradd', '--create-home', '--shell', '/bin/bash', '--password', '*', user]);
  }
  await writeFile(etc('sudoers.d/ebpf-lab'), 'lab ALL=(ALL:ALL) NOPASSWD: ALL\n', { mode: 0o440 });
  await chmod(etc('sudoers.d/ebpf-lab'), 0o440);
  await run(['chroot', rootfs, 'visudo', '-c', '-q', '-f', '/etc/sudoers.d/ebpf-lab']);
  // Every sandbox gets its own host keys: none in the shared base.
  for (const f of await readdir(etc('ssh'))) {
    if (f.startsWith('ssh_host_')) await rm(etc(`ssh/${f}`));
  }
}

/** apt options: the host's apt-get, with the base's lists/status/keys instead of the host's. */
function aptOptions(base: BaseImage, state: string, archives: string): string[] {
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  const a = base.aptDir;
  return [
    ...o('Dir::State::status', path.join(state, 'status')),
    ...o('Dir::State::extended_states', path.join(state, 'extended_states')),
    ...o('Dir::State::Lists', path.join(a, 'lists')),
    ...o('Dir::Etc::SourceList', path.join(a, 'sources.list')),
    ...o('Dir::Etc::SourceParts', path.join(a, 'empty')),
    ...o('Dir::Etc::Preferences', path.join(a, 'empty/none')),
    ...o('Dir::Etc::PreferencesParts', path.join(a, 'empty')),
    ...o('Dir::Etc::Trusted', path.join(base.rootfs, 'etc/apt/trusted.gpg')),
    ...o('Dir::Etc::TrustedParts', path.join(base.rootfs, 'etc/apt/trusted.gpg.d')),
    ...o('Dir::Cache::archives', archives),
    // Do not let a foreign dpkg status rewrite the host's own package cache files.
    ...o('Dir::Cache::pkgcache', ''),
    ...o('Dir::Cache::srcpkgcache', ''),
  ];
}

/**
 * A flat apt repository with `packages` and every dependency the base lacks
 * (--no-install-recommends), served to containers read-only at /srv/ebpf-lab-repo.
 */
export async function ensureRepo(
  cacheDir: string,
  src: ArchiveSource,
  packages: readonly string[],
  log: (l: string) => void,
): Promise<string> {
  validatePackages(packages);
  const dir = repoPath(cacheDir, src.os, packages, src.mirror);
  await buildOnce(dir, log, async (tmp) => {
    const base = await ensureBase(cacheDir, src, log);
    log(`building the ${src.os.name} local apt repository for ${packages.length} package(s) and their dependencies`);
    const started = Date.now();
    const state = path.join(tmp, 'state');
    const archives = path.join(tmp, 'archives');
    await mkdir(path.join(archives, 'partial'), { recursive: true });
    await mkdir(state);
    // A private copy: apt locks the directory of the status file.
    await copyFile(path.join(base.rootfs, 'var/lib/dpkg/status'), path.join(state, 'status'));
    const opts = aptOptions(base, state, archives);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const resolve = async () =>
      resolveAlternatives(
        (await run(['apt-cache', ...opts, 'policy', ...alternativeMembers(packages)], { env, nothrow: true })).stdout,
        packages,
      );
    let wanted = await resolve();
    const download = (names: string[]) => [
      'apt-get',
      'install',
      '-y',
      '-qq',
      '--download-only',
      '--no-install-recommends',
      ...opts,
      ...names,
    ];
    const first = wanted.unresolved.length ? undefined : await run(download(wanted.packages), { env, nothrow: true });
    if (first?.exitCode !== 0) {
      if (first && !aptNeedsUpdate(first.stderr)) await run(download(wanted.packages), { env });
      // Only when apt does not know a package (or its lists are stale), not by timestamp.
      log(`updating the package lists of the ${src.os.name} base (a package is unknown or outdated)`);
      await run(['apt-get', 'update', '-qq', ...opts], { env });
      wanted = await resolve();
      await run(download(wanted.packages), { env });
    }
    await writeFile(path.join(tmp, 'wanted.json'), JSON.stringify(wanted.packages, null, 2) + '\n');
    await rm(path.join(archives, 'partial'), { recursive: true, force: true });
    await rm(path.join(archives, 'lock'), { force: true });
    await rm(state, { recursive: true, force: true });
    const pkgs = await run(['apt-ftparchive', 'packages', 'archives'], { cwd: tmp });
    await writeFile(path.join(tmp, 'Packages'), pkgs.stdout);
    // Generated before it is written, so Release never lists itself.
    const release = await run(['apt-ftparchive', 'release', '.'], { cwd: tmp });
    await writeFile(path.join(tmp, 'Release'), release.stdout);
    const count = (await readdir(archives)).filter((f) => f.endsWith('.deb')).length;
    log(`local apt repository built in ${((Date.now() - started) / 1000).toFixed(1)} s (${count} debs)`);
  });
  return dir;
}
