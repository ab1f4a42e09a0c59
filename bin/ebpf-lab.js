#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('ebpf-lab is not built yet: run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)));
  process.exit(2);
}
// `--version` alone: answered here, without loading the CLI (start-up budget: node + 0.1 s).
const args = process.argv.slice(2);
if (args.length === 1 && ['--version', '-V', 'version'].includes(args[0])) {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
} else {
  await import(cli);
}
