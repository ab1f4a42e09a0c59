#!/usr/bin/env node
// Writes dist/help.txt, the top-level `ebpf-lab --help`, at build time: bin/ebpf-lab.js prints
// it for a bare `--help` without loading the command line (start-up budget: node + 0.1 s).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
const text = execFileSync(process.execPath, [main, '--help'], {
  encoding: 'utf8',
  env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '', COLUMNS: '80' },
});
if (!/^Usage: ebpf-lab/.test(text)) throw new Error(`unexpected --help output:\n${text.slice(0, 300)}`);
writeFileSync(fileURLToPath(new URL('../dist/help.txt', import.meta.url)), text);
