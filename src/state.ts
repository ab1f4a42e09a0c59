import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where ebpf-lab keeps its own state: labs it created, keys, known hosts, caches. */
export function labHome(): string {
  return process.env['EBPF_LAB_HOME'] ?? join(homedir(), '.ebpf-lab');
}

/** Shared cache (artifacts, sandbox base image, local apt repository). */
export function cacheDir(): string {
  return process.env['EBPF_LAB_CACHE'] ?? join(labHome(), 'cache');
}

export function knownHostsPath(): string {
  return join(labHome(), 'known_hosts');
}

/** A lab this tool knows: how to reach it and what it created (so `down` never touches anything else). */
export interface LabRecord {
  name: string;
  /** The Target kind that made the record (src/targets/index.ts): sandbox, ssh, local, lightsail. */
  kind: string;
  target: string;
  host?: string;
  port?: number;
  user?: string;
  keyPath?: string;
  region?: string;
  /** A sandbox's OS id (e.g. ubuntu-22.04). */
  os?: string;
  /** AWS profile the lab was created with (--profile), for status and ssh later. */
  profile?: string;
  createdByUs: boolean;
  createdAt: string;
  lastRun?: { command: string; at: string; ok: boolean };
}

interface Registry {
  labs: Record<string, LabRecord>;
}

const registryPath = () => join(labHome(), 'labs.json');

export async function readRegistry(): Promise<Registry> {
  try {
    return JSON.parse(await readFile(registryPath(), 'utf8')) as Registry;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { labs: {} };
    throw e;
  }
}

/** Atomic 0600 write of a local state file (temp + rename), directory 0700. */
export async function writePrivate(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export async function saveLab(rec: LabRecord): Promise<void> {
  const reg = await readRegistry();
  reg.labs[rec.name] = { ...reg.labs[rec.name], ...rec };
  await writePrivate(registryPath(), JSON.stringify(reg, null, 2) + '\n');
}

export async function forgetLab(name: string): Promise<void> {
  const reg = await readRegistry();
  delete reg.labs[name];
  await writePrivate(registryPath(), JSON.stringify(reg, null, 2) + '\n');
}
