import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { labHome, writePrivate } from './state.js';

export function secretPath(lab: string, name: string): string {
  return join(labHome(), 'secrets', `${lab.replace(/[^A-Za-z0-9_.-]/g, '_')}.${name}`);
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
