#!/usr/bin/env node
// Records the raw outputs the fact parsers read, on a real host, as test fixtures:
//   node scripts/record-facts.mjs NAME -- ssh-args...   (e.g. -i key -p 2222 root@127.0.0.1)
// writes test/fixtures/facts/NAME.txt (HOST_FACTS_SCRIPT), test/fixtures/doctor/NAME.txt
// (DOCTOR_SCRIPT) and test/fixtures/bpftool/NAME.txt (BPFTOOL_FACTS_SCRIPT), each run as root.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const [name, sep, ...ssh] = process.argv.slice(2);
if (!name || sep !== '--' || ssh.length === 0) {
  console.error('usage: node scripts/record-facts.mjs NAME -- SSH-ARGS...');
  process.exit(2);
}
const scripts = {
  facts: (await dist('src/facts/host.js')).HOST_FACTS_SCRIPT,
  doctor: (await dist('src/facts/doctor.js')).DOCTOR_SCRIPT,
  bpftool: (await dist('src/facts/bpftool.js')).BPFTOOL_FACTS_SCRIPT,
};
for (const [dir, script] of Object.entries(scripts)) {
  // The scripts' last command may fail (a missing file): the output is what counts.
  const r = spawnSync('ssh', [...ssh, 'sh -s'], { input: script, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status === 255 || r.status === null) throw new Error(`ssh failed: ${r.stderr}`);
  const out = r.stdout;
  mkdirSync(join(root, 'test', 'fixtures', dir), { recursive: true });
  writeFileSync(join(root, 'test', 'fixtures', dir, `${name}.txt`), out);
  console.log(`test/fixtures/${dir}/${name}.txt: ${out.split('\n').length} lines`);
}
