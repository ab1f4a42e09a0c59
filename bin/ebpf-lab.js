#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script), and bundled
// into one file, dist/ebpf-lab.cjs (scripts/bundle.mjs), which loads faster than the modules.
// CommonJS (bin/package.json says so): Node starts a CommonJS file sooner than an ES module.
'use strict';
const { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');
const cli = join(__dirname, '..', 'dist', 'ebpf-lab.cjs');
if (!existsSync(cli)) {
  console.error('ebpf-lab is not built yet: run `npm run build` in ' + join(__dirname, '..'));
  process.exit(2);
}
// `--version` and a bare `--help` alone: answered here, without loading the CLI (start-up
// budget: node + 0.1 s). The help text is the CLI's own, written at build time (scripts/write-help.mjs).
const args = process.argv.slice(2);
const help = join(__dirname, '..', 'dist', 'help.txt');
if (args.length === 1 && ['--version', '-V', 'version'].includes(args[0])) {
  process.stdout.write(JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version + '\n');
} else if (args.length === 1 && ['--help', '-h', 'help'].includes(args[0]) && existsSync(help)) {
  process.stdout.write(readFileSync(help, 'utf8'));
} else {
  // The run commands each have a cache of their own (most of what they compile is theirs).
  const run = ['up', 'plan', 'verify'].find((c) => c === args[0]);
  runBundle(cli, run && !args.some((a) => a === '--help' || a === '-h') ? run : 'other');
}

/**
 * Runs the bundle as require() would, with V8's code cache: compiling it (and ssh2, loaded
 * from it) is a good part of start-up, and a cache holds the code as the last run of the same
 * command compiled it. The cache lives beside the bundle, in dist/ (as trusted as the code
 * itself; a read-only install simply has none), one file per run command, named after the
 * bundle's size and time and Node's version, and the build removes it: a cache is never used
 * for other code (V8 checks its own version and flags, and the source's length only). Written
 * once, at the end of a run that had none or whose cache V8 refused.
 */
function runBundle(file, command) {
  const st = statSync(file);
  const name = `${command}-${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8`;
  const cacheFile = join(dirname(file), 'ebpf-lab.cjs.cache', name);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
  const script = new Script(Module.wrap(source), {
    filename: file,
    cachedData,
  });
  if (cachedData === undefined || script.cachedDataRejected)
    process.once('exit', () => {
      try {
        mkdirSync(dirname(cacheFile), { recursive: true });
        writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData());
        renameSync(`${cacheFile}.${process.pid}`, cacheFile);
      } catch {
        // (not writable: no cache)
      }
    });
  // import() inside a script has no loader behind it (and a cached one cannot be given one
  // on Node 20): the bundle takes this file's own for the ES-module-only packages (src/load.ts).
  globalThis[Symbol.for('ebpf-lab.import')] = (name) => import(name);
  const m = new Module(file, null);
  m.filename = file;
  m.paths = Module._nodeModulePaths(dirname(file));
  const req = (id) => m.require(id);
  req.resolve = (id) => Module._resolveFilename(id, m);
  script.runInThisContext().call(m.exports, m.exports, req, m, file, dirname(file));
}
