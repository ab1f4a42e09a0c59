#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('ebpf-lab is not built yet: run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)));
  process.exit(2);
}
// `--version` and a bare `--help` alone: answered here, without loading the CLI (start-up
// budget: node + 0.1 s). The help text is the CLI's own, written at build time (scripts/write-help.mjs).
const args = process.argv.slice(2);
const help = new URL('../dist/help.txt', import.meta.url);
if (args.length === 1 && ['--version', '-V', 'version'].includes(args[0])) {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
} else if (args.length === 1 && ['--help', '-h', 'help'].includes(args[0]) && existsSync(help)) {
  process.stdout.write(readFileSync(help, 'utf8'));
} else {
  await import(cli);
}
