// Substitute: the Lightsail API is aws-sdk-client-mock; the key files are real, in a temp dir.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetKeyPairCommand,
  ImportKeyPairCommand,
  LightsailClient,
  NotFoundException,
  TagResourceCommand,
} from '@aws-sdk/client-lightsail';
import { mockClient } from 'aws-sdk-client-mock';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { ensureKeyPair } from '../../src/cloud/keys.js';

const lightsail = mockClient(LightsailClient);
const client = new LightsailClient({ region: 'eu-central-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
let keyDir: string;

beforeEach(async () => {
  lightsail.reset();
  keyDir = join(await mkdtemp(join(tmpdir(), 'ebpf-lab-keys-')), 'keys');
});
afterEach(async () => {
  await rm(join(keyDir, '..'), { recursive: true, force: true });
});

describe('ensureKeyPair', () => {
  it('generates a key once (0600), imports its public half and tags the pair ours', async () => {
    lightsail.on(GetKeyPairCommand).rejects(new NotFoundException({ message: 'no such key pair', $metadata: {} }));
    lightsail.on(ImportKeyPairCommand).resolves({});
    lightsail.on(TagResourceCommand).resolves({});
    const r = await ensureKeyPair(client, { name: 'ebpf-lab-lab-01', keyDir, lab: 'lab-01' });
    expect(r).toMatchObject({ generated: true, imported: true, privateKeyPath: join(keyDir, 'ebpf-lab-lab-01') });
    expect((await stat(r.privateKeyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(keyDir)).mode & 0o077).toBe(0);
    const priv = await readFile(r.privateKeyPath, 'utf8');
    const parsed = ssh2.utils.parseKey(priv);
    expect(parsed).not.toBeInstanceOf(Error);
    expect(r.publicKey).toMatch(/^ssh-rsa AAAA\S+ ebpf-lab ebpf-lab-lab-01$/);
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY');
    const imported = lightsail.commandCalls(ImportKeyPairCommand)[0]!.args[0].input;
    expect(imported).toEqual({ keyPairName: 'ebpf-lab-lab-01', publicKeyBase64: r.publicKey });
    expect((await readFile(`${r.privateKeyPath}.pub`, 'utf8')).trim()).toBe(r.publicKey);
    expect(lightsail.commandCalls(TagResourceCommand)[0]!.args[0].input).toEqual({
      resourceName: 'ebpf-lab-lab-01',
      tags: [
        { key: 'managed-by', value: 'ebpf-lab' },
        { key: 'ebpf-lab:lab', value: 'lab-01' },
      ],
    });
  });

  it('reuses the local key and the existing pair on a second run: nothing generated or imported', async () => {
    lightsail
      .on(GetKeyPairCommand)
      .rejectsOnce(new NotFoundException({ message: 'x', $metadata: {} }))
      .resolves({ keyPair: { name: 'k' } });
    lightsail.on(ImportKeyPairCommand).resolves({});
    lightsail.on(TagResourceCommand).resolves({});
    const first = await ensureKeyPair(client, { name: 'k', keyDir });
    const before = await readFile(first.privateKeyPath, 'utf8');
    const second = await ensureKeyPair(client, { name: 'k', keyDir });
    expect(second).toMatchObject({ generated: false, imported: false, publicKey: first.publicKey });
    expect(await readFile(first.privateKeyPath, 'utf8')).toBe(before);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(1);
  });

  it('imports an existing local key (after a teardown) and tightens its mode to 0600', async () => {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    await mkdir(keyDir, { recursive: true });
    await writeFile(join(keyDir, 'mine'), pair.private, { mode: 0o644 });
    lightsail.on(GetKeyPairCommand).rejects(new NotFoundException({ message: 'x', $metadata: {} }));
    lightsail.on(ImportKeyPairCommand).resolves({});
    lightsail.on(TagResourceCommand).resolves({});
    const r = await ensureKeyPair(client, { name: 'mine', keyDir });
    expect(r).toMatchObject({ generated: false, imported: true });
    expect(r.publicKey.split(' ').slice(0, 2).join(' ')).toBe(pair.public.split(' ').slice(0, 2).join(' '));
    expect((await stat(join(keyDir, 'mine'))).mode & 0o777).toBe(0o600);
  });

  it('refuses when Lightsail has the pair but the private key is not here, writing nothing', async () => {
    lightsail.on(GetKeyPairCommand).resolves({ keyPair: { name: 'k' } });
    const err = await ensureKeyPair(client, { name: 'k', keyDir }).catch((e) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(err.hint).toContain(join(keyDir, 'k'));
    await expect(stat(join(keyDir, 'k'))).rejects.toThrow(/ENOENT/);
    expect(lightsail.commandCalls(ImportKeyPairCommand)).toHaveLength(0);
  });

  it('treats "already exists" on import (a concurrent run) as success without tagging', async () => {
    lightsail.on(GetKeyPairCommand).rejects(new NotFoundException({ message: 'x', $metadata: {} }));
    lightsail
      .on(ImportKeyPairCommand)
      .rejects(Object.assign(new Error('Key pair k already exists'), { name: 'InvalidInputException' }));
    await mkdir(keyDir, { recursive: true });
    await writeFile(join(keyDir, 'k'), ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 }); // fast, unlike RSA
    const r = await ensureKeyPair(client, { name: 'k', keyDir });
    expect(r.imported).toBe(false);
    expect(lightsail.commandCalls(TagResourceCommand)).toHaveLength(0);
  });
});
