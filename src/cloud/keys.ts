import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteKeyPairCommand,
  GetKeyPairCommand,
  ImportKeyPairCommand,
  TagResourceCommand,
  type KeyPair,
  type LightsailClient,
  type Tag,
} from '@aws-sdk/client-lightsail';
import ssh2 from 'ssh2';
import { UserError } from '../errors.js';
import { call, raw, type CloudOptions } from './api.js';
import { isNameTaken, isNotFound, translateAwsError } from './errors.js';
import { isOurs, labTags } from './tags.js';

/** The key pair ebpf-lab uses for a lab (key pairs are per region, like instances). */
export function defaultKeyPairName(lab: string): string {
  return `ebpf-lab-${lab}`;
}

/** Result of {@link ensureKeyPair}. Never contains the private key itself. */
export interface KeyPairResult {
  name: string;
  /** OpenSSH private key, mode 0600 (for `ssh -i` and ssh2). */
  privateKeyPath: string;
  /** OpenSSH public key line. */
  publicKey: string;
  /** True when this call generated the local key file. */
  generated: boolean;
  /** True when this call imported the public key into Lightsail. */
  imported: boolean;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Write through a temp file + rename, created 0600 from the start: never readable by others. */
async function writePrivate(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600); // the umask cannot widen it, but an existing tmp could have other bits
  await rename(tmp, path);
}

async function readPublicKey(privateKeyPath: string): Promise<string> {
  const parsed = ssh2.utils.parseKey(await readFile(privateKeyPath));
  if (parsed instanceof Error)
    throw new UserError(
      `${privateKeyPath} is not a usable SSH private key (${parsed.message})`,
      'Move it away; ebpf-lab will generate a new one.',
    );
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) throw new UserError(`${privateKeyPath} holds no key`, 'Move it away; ebpf-lab will generate a new one.');
  // a key that is readable by others must not stay so
  await chmod(privateKeyPath, 0o600);
  return `${key.type} ${key.getPublicSSH().toString('base64')}${key.comment ? ' ' + key.comment : ''}`;
}

async function getKeyPair(client: LightsailClient, name: string, opts: CloudOptions): Promise<KeyPair | undefined> {
  try {
    return (await raw(() => client.send(new GetKeyPairCommand({ keyPairName: name })), opts)).keyPair;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw translateAwsError(err, { action: `read key pair ${name}` });
  }
}

/**
 * Make sure key pair `name` exists in Lightsail and its private key is in `keyDir/<name>`.
 * The key is generated locally once (RSA 3072: ImportKeyPair documents "ssh-rsa type" keys
 * only, and ssh2 and OpenSSH ≥ 8.8 sign with rsa-sha2-256/512, so RSA is safe everywhere;
 * ed25519 reportedly imports too but that is not documented), written 0600, and imported when
 * Lightsail does not have it; an existing pair is reused. If Lightsail has the pair but the
 * private key file is missing, the pair is unusable from here: UserError, nothing changed.
 */
export async function ensureKeyPair(
  client: LightsailClient,
  spec: { name: string; keyDir: string; lab?: string; tags?: Tag[] },
  opts: CloudOptions = {},
): Promise<KeyPairResult> {
  const privateKeyPath = join(spec.keyDir, spec.name);
  await mkdir(spec.keyDir, { recursive: true, mode: 0o700 });
  const haveLocal = await exists(privateKeyPath);
  const remote = await getKeyPair(client, spec.name, opts);
  if (remote && !haveLocal) {
    throw new UserError(
      `Key pair "${spec.name}" exists in Lightsail but its private key is not in ${spec.keyDir}`,
      `Copy the private key to ${privateKeyPath} (mode 0600), or delete the key pair "${spec.name}" in Lightsail so a new one is made.`,
    );
  }
  let generated = false;
  if (!haveLocal) {
    const pair = ssh2.utils.generateKeyPairSync('rsa', { bits: 3072, comment: `ebpf-lab ${spec.name}` });
    await writePrivate(privateKeyPath, pair.private);
    await writeFile(`${privateKeyPath}.pub`, pair.public + '\n', { mode: 0o644 });
    generated = true;
  }
  const publicKey = await readPublicKey(privateKeyPath);
  if (remote) return { name: spec.name, privateKeyPath, publicKey, generated, imported: false };

  const ctx = { action: `import key pair ${spec.name}` };
  try {
    await raw(
      () => client.send(new ImportKeyPairCommand({ keyPairName: spec.name, publicKeyBase64: publicKey })),
      opts,
    );
  } catch (err) {
    // a concurrent run imported it first: same local key, so the pair is usable
    if (!isNameTaken(err)) throw translateAwsError(err, ctx);
    return { name: spec.name, privateKeyPath, publicKey, generated, imported: false };
  }
  // ImportKeyPair takes no tags: tag afterwards so teardown can tell the pair is ours
  const tags = spec.tags ?? labTags(spec.lab ?? spec.name);
  await call(
    () => client.send(new TagResourceCommand({ resourceName: spec.name, tags })),
    { action: `tag key pair ${spec.name}` },
    opts,
  );
  return { name: spec.name, privateKeyPath, publicKey, generated, imported: true };
}

/**
 * Delete key pair `name` only when it is tagged as ebpf-lab's for `lab`. Returns true when
 * deleted; false when absent or not ours (left alone). The local private key file is kept.
 */
export async function deleteKeyPairIfOurs(
  client: LightsailClient,
  name: string,
  lab: string,
  opts: CloudOptions = {},
): Promise<boolean> {
  const pair = await getKeyPair(client, name, opts);
  if (!pair || !isOurs(pair.tags, lab)) return false;
  try {
    await raw(() => client.send(new DeleteKeyPairCommand({ keyPairName: name })), opts);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw translateAwsError(err, { action: `delete key pair ${name}` });
  }
}
