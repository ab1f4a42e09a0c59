/**
 * Errors of this machine's own filesystem (EBPF_LAB_HOME, the cache) said as what they mean:
 * a full disk names the mount and its free bytes; a read-only one says so.
 */
import { existsSync, readFileSync, realpathSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { HostError } from './errors.js';

/** The mount point holding `path` (or its nearest existing parent) and its free bytes for us. */
export function mountOf(path: string): { mount: string; free: number } {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  let real = p;
  try {
    real = realpathSync(p);
  } catch {
    // keep p
  }
  let mount = '/';
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const m = line.split(' ')[4]?.replace(/\\040/g, ' ');
      if (m && (real === m || real.startsWith(m.endsWith('/') ? m : m + '/')) && m.length >= mount.length) mount = m;
    }
  } catch {
    // no /proc: '/'
  }
  let free = NaN;
  try {
    const s = statfsSync(real);
    free = s.bavail * s.bsize;
  } catch {
    // unknown
  }
  return { mount, free };
}

/** A local ENOSPC/EDQUOT/EROFS error as a HostError (exit 1, no stack trace), else undefined. */
export function localFsError(e: unknown, fallbackPath?: () => string): HostError | undefined {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || typeof err !== 'object' || !err.code) return undefined;
  // A failed write() has no path: the writers below add it; else the caller's guess (EBPF_LAB_HOME).
  if (!err.path && fallbackPath && ['ENOSPC', 'EDQUOT', 'EROFS'].includes(err.code)) err.path = fallbackPath();
  if (!err.path) return undefined;
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
    const { mount, free } = mountOf(err.path);
    return new HostError(
      `no space left on local:${mount}, ${Number.isFinite(free) ? free : '?'} bytes free (writing ${err.path})`,
      `free space on ${mount} (or point EBPF_LAB_HOME / EBPF_LAB_CACHE at a filesystem with room), then run again`,
    );
  }
  if (err.code === 'EROFS') {
    const { mount } = mountOf(err.path);
    return new HostError(
      `local:${mount} is a read-only file system (writing ${err.path})`,
      'point EBPF_LAB_HOME / EBPF_LAB_CACHE at a writable directory, then run again',
    );
  }
  return undefined;
}

/** Adds the file being written to an error that lacks it (a failed write() names no path). */
export function withPath(e: unknown, path: string): unknown {
  if (e && typeof e === 'object' && (e as NodeJS.ErrnoException).code && !(e as NodeJS.ErrnoException).path)
    (e as NodeJS.ErrnoException).path = path;
  return e;
}
