import { mkdir, readFile, rename, rm, rmdir, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from './errors.js';
import { withPath } from './local-fs.js';
import type { ProbeMemo } from './resources/probe.js';

/** Where ebpf-lab keeps its own state: labs it created, keys, known hosts, caches. */
export function labHome(): string {
  const set = process.env['EBPF_LAB_HOME'];
  // Empty is not "here": it would put labs, keys and known hosts in the current directory.
  if (set !== undefined && set.trim() === '')
    throw new UserError('EBPF_LAB_HOME is set but empty', 'unset it (default ~/.ebpf-lab) or set it to a directory');
  return set ?? join(homedir(), '.ebpf-lab');
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

/** Why a record of labs.json cannot be used, or undefined when it can. */
export function badRecord(name: string, r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'not an object';
  const o = r as Record<string, unknown>;
  if (o['name'] !== name) return `its name is ${JSON.stringify(o['name'])}, not ${JSON.stringify(name)}`;
  if (!['sandbox', 'ssh', 'local', 'lightsail'].includes(o['kind'] as string))
    return `kind ${JSON.stringify(o['kind'])} is not sandbox, ssh, local or lightsail`;
  if (typeof o['target'] !== 'string') return 'target is not a string';
  if (typeof o['createdByUs'] !== 'boolean') return 'createdByUs is not true or false';
  for (const k of ['host', 'user', 'keyPath', 'region', 'createdAt'])
    if (o[k] !== undefined && typeof o[k] !== 'string') return `${k} is not a string`;
  if (o['port'] !== undefined && !(Number.isInteger(o['port']) && (o['port'] as number) > 0))
    return 'port is not a port number';
  return undefined;
}

/** The file as it is: its valid records, and its raw text and object for a careful rewrite. */
interface RegistryFile {
  reg: Registry;
  raw?: { text: string; labs?: Record<string, unknown> };
  problems: string[];
}

const told = new Set<string>();
/** A problem with labs.json, said once per run on stderr (the good records are still used). */
function warn(line: string): void {
  if (told.has(line)) return;
  told.add(line);
  process.stderr.write(`warning: ${line}\n`);
}

async function loadRegistry(): Promise<RegistryFile> {
  const path = registryPath();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { reg: { labs: {} }, problems: [] };
    throw new UserError(
      `cannot read ${path} (${(e as NodeJS.ErrnoException).code})`,
      `ebpf-lab keeps its list of labs there: make it a readable file (or move it away)`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const problem = `${path} is not valid JSON (${(e as Error).message}): no lab in it can be used; it is kept as it is until ebpf-lab next records a lab, which first copies it to ${path}.corrupt-<time>`;
    return { reg: { labs: {} }, raw: { text }, problems: [problem] };
  }
  const labs = (data as { labs?: unknown })?.labs;
  if (typeof labs !== 'object' || labs === null || Array.isArray(labs))
    return {
      reg: { labs: {} },
      raw: { text },
      problems: [
        `${path} has no "labs" object: no lab in it can be used; it is kept until ebpf-lab next records a lab`,
      ],
    };
  const good: Record<string, LabRecord> = {};
  const problems: string[] = [];
  for (const [name, rec] of Object.entries(labs as Record<string, unknown>)) {
    const why = badRecord(name, rec);
    if (why)
      problems.push(
        `${path}: lab record ${JSON.stringify(name)} is not usable (${why}); ignored, and kept in the file as it is`,
      );
    else good[name] = rec as LabRecord;
  }
  return { reg: { labs: good }, raw: { text, labs: labs as Record<string, unknown> }, problems };
}

/** The labs this tool knows: the valid records of labs.json (each invalid one is reported and skipped). */
export async function readRegistry(): Promise<Registry> {
  const f = await loadRegistry();
  f.problems.forEach(warn);
  return f.reg;
}

/** Atomic 0600 write of a local state file (temp + rename), directory 0700; nothing left on failure. */
export async function writePrivate(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw withPath(e, tmp);
  }
}

/**
 * Changes one record and writes the file: the other records, valid or not, are written back
 * as they were; a file that is not JSON at all is first copied aside, never lost.
 */
async function updateRegistry(change: (labs: Record<string, unknown>) => void): Promise<void> {
  const f = await loadRegistry();
  f.problems.forEach(warn);
  const path = registryPath();
  let labs: Record<string, unknown> = { ...f.reg.labs };
  if (f.raw?.labs) labs = { ...f.raw.labs };
  else if (f.raw) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await writePrivate(aside, f.raw.text);
    warn(
      `${path} could not be read as a list of labs: its content was kept in ${aside}; a new list starts with this lab`,
    );
  }
  change(labs);
  await writePrivate(path, JSON.stringify({ labs }, null, 2) + '\n');
}

/** Records a lab (merged into its record; the first createdAt is kept). */
export async function saveLab(rec: LabRecord): Promise<void> {
  await updateRegistry((labs) => {
    const prev = labs[rec.name];
    const old = prev && !badRecord(rec.name, prev) ? (prev as LabRecord) : undefined;
    labs[rec.name] = { ...old, ...rec, createdAt: old?.createdAt ?? rec.createdAt };
  });
}

export async function forgetLab(name: string): Promise<void> {
  await updateRegistry((labs) => delete labs[name]);
  await rm(factsPath(name), { force: true });
  await rm(memoPath(name), { force: true });
}

/**
 * The host facts a lab's last run read (the facts script's output): the next run's guess,
 * which it checks against the host before trusting (src/runner/snapshot.ts). Not secret;
 * a missing or unreadable file is simply no guess.
 */
const factsPath = (lab: string) => join(labHome(), 'facts', `${lab.replace(/[^A-Za-z0-9._-]/g, '_')}.txt`);

export async function readFactsGuess(lab: string): Promise<string | undefined> {
  return readFile(factsPath(lab), 'utf8').catch(() => undefined);
}

export async function saveFactsGuess(lab: string, raw: string): Promise<void> {
  const path = factsPath(lab);
  // Only a cache: a failure (a full disk) is no error, and leaves no empty directory behind.
  await writePrivate(path, raw).catch(() => rmdir(dirname(path)).catch(() => {}));
}

/**
 * The answers of fingerprinted probes a lab's last run read, each with its fingerprint
 * (src/resources/probe.ts): a probe whose fingerprint is unchanged is not run again. Not
 * secret; a missing or unreadable file is simply no memo.
 */
const memoPath = (lab: string) => factsPath(lab).replace(/\.txt$/, '.probes.json');

export async function readProbeMemo(lab: string): Promise<ProbeMemo | undefined> {
  try {
    const m: unknown = JSON.parse(await readFile(memoPath(lab), 'utf8'));
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
    const ok = Object.values(m).every(
      (v: unknown) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as Record<string, unknown>)['fingerprint'] === 'string' &&
        typeof (v as Record<string, unknown>)['body'] === 'string' &&
        typeof (v as Record<string, unknown>)['code'] === 'number',
    );
    return ok ? (m as ProbeMemo) : undefined;
  } catch {
    return undefined;
  }
}

export async function saveProbeMemo(lab: string, memo: ProbeMemo): Promise<void> {
  const path = memoPath(lab);
  await writePrivate(path, JSON.stringify(memo)).catch(() => rmdir(dirname(path)).catch(() => {}));
}
