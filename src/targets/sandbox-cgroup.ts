/**
 * One cgroup per sandbox. systemd-nspawn with --keep-unit leaves the container in the cgroup
 * of whoever started it, so two sandboxes started from one place shared their
 * `system.slice/apache2.service`: each container's systemd then saw the other's apache
 * processes in "its" unit (as pid 0, from another PID namespace), never saw the unit empty,
 * and every `systemctl restart apache2` waited out the 90 s stop timeout. So the container
 * starts in a cgroup of its own, in every hierarchy systemd uses (cgroup v2, and the v1
 * name=systemd one of a legacy or hybrid host), under the cgroup ebpf-lab itself runs in.
 */
import { readFile, readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';

/** Where this process sits in each hierarchy systemd tracks services with. */
export async function ownCgroupDirs(): Promise<string[]> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' '));
  const v2 = mounts.find((m) => m[2] === 'cgroup2')?.[1];
  const v1 = mounts.find((m) => m[2] === 'cgroup' && (m[3] ?? '').split(',').includes('name=systemd'))?.[1];
  const dirs: string[] = [];
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const [, controllers, rel] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (rel === undefined) continue;
    if (controllers === '' && v2) dirs.push(path.join(v2, rel));
    if (controllers === 'name=systemd' && v1) dirs.push(path.join(v1, rel));
  }
  return dirs;
}

/** The sandbox's own cgroup directories, one per hierarchy. */
export async function sandboxCgroups(machine: string): Promise<string[]> {
  return (await ownCgroupDirs()).map((d) => path.join(d, `ebpf-lab-${machine}`));
}

/**
 * argv that moves itself into `cgroups` (created if missing) and then becomes `argv`: the
 * container is born there, with no window in which it runs elsewhere. A hierarchy that
 * refuses (read-only, delegated elsewhere) is skipped: the sandbox still boots.
 */
export function inCgroups(cgroups: string[], argv: string[]): string[] {
  const script =
    'for d in $EBPF_LAB_CGROUPS; do mkdir -p "$d" 2>/dev/null && echo $$ > "$d/cgroup.procs" 2>/dev/null; done; exec "$@"';
  return ['env', `EBPF_LAB_CGROUPS=${cgroups.join(' ')}`, 'sh', '-c', script, 'sh', ...argv];
}

/** Removes a stopped sandbox's cgroups (its systemd leaves empty sub-cgroups behind). */
export async function removeCgroups(cgroups: string[]): Promise<void> {
  for (const dir of cgroups) await removeEmptyTree(dir);
}

async function removeEmptyTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // already gone
  }
  for (const e of entries) if (e.isDirectory()) await removeEmptyTree(path.join(dir, e.name));
  await rmdir(dir).catch(() => {}); // still in use: left for the next stop
}
