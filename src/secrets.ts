import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { labHome, writePrivate } from './state.js';

const fileName = (lab: string) => lab.replace(/[^A-Za-z0-9_.-]/g, '_');

export function secretPath(lab: string, name: string): string {
  return join(labHome(), 'secrets', `${fileName(lab)}.${name}`);
}

/** The lab's secrets (KNOWN names only), removed when the lab itself is destroyed; returns the paths removed. */
export async function forgetSecrets(lab: string, names = ['grafana']): Promise<string[]> {
  const dir = join(labHome(), 'secrets');
  const present = new Set(await readdir(dir).catch(() => [] as string[]));
  const gone: string[] = [];
  for (const n of names)
    if (present.has(`${fileName(lab)}.${n}`)) {
      await rm(secretPath(lab, n), { force: true });
      gone.push(secretPath(lab, n));
    }
  return gone;
}

/** A lab secret, generated once (24 url-safe characters) and kept 0600 locally. */
export async function labSecret(lab: string, name: string): Promise<string> {
  const path = secretPath(lab, name);
  try {
    const v = (await readFile(path, 'utf8')).trim();
    if (v) return v;
  } catch {
    /* first use */
  }
  const v = randomBytes(18).toString('base64url');
  await writePrivate(path, v + '\n');
  return v;
}

export async function readSecret(lab: string, name: string): Promise<string | undefined> {
  try {
    return (await readFile(secretPath(lab, name), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}
