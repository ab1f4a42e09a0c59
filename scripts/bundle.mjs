#!/usr/bin/env node
// Writes dist/ebpf-lab.cjs, what bin/ebpf-lab.js runs: the compiled CLI (dist/src, dist/steps)
// and the packages every run loads (ssh2, commander, ejs…) in one CommonJS file. Start-up is
// part of every run's time (issue 12): Node's ES module loader reads and links each of ~120
// files apart, waiting on the file system for each, and require() resolves, reads and
// compiles each package file apart; one file is read and compiled at once, and bin/ebpf-lab.js
// keeps V8's code cache of it. What only some commands load stays outside, in node_modules:
// the AWS SDK and the prompts (Lightsail), yaml and diff (loaded by require at run time).
// Modules a command does not need are still not run until it imports them (esbuild wraps
// each dynamically imported module in a function run on first import).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = (p) => fileURLToPath(new URL(`../dist/${p}`, import.meta.url));
// The code cache of the bundle before (see bin/ebpf-lab.js): never for this one.
rmSync(dist('ebpf-lab.cjs.cache'), { recursive: true, force: true });

// ssh2's native binding (built by its install script, optional: ssh2 falls back to
// JavaScript without it) is loaded from ssh2's own directory, as ssh2 loads it.
const sshBinding = {
  name: 'ssh2-binding',
  setup(b) {
    b.onResolve({ filter: /\/crypto\/build\/Release\/sshcrypto\.node$/ }, () => ({
      path: 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node',
      external: true,
    }));
  },
};

await build({
  entryPoints: [dist('src/main.js')],
  outfile: dist('ebpf-lab.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@aws-sdk/*', '@smithy/*', '@inquirer/*', 'yaml', 'diff', 'cpu-features'],
  plugins: [sshBinding],
  // import.meta.url (paths.ts finds the package root from it; createRequire) is this file's URL.
  define: { 'import.meta.url': '__ebpfLabUrl' },
  // Strict mode first, as the ES modules were (a directive after the banner would not count);
  // the packages in it run strict too, as in any bundle of ES modules.
  banner: { js: "'use strict';\nconst __ebpfLabUrl = require('node:url').pathToFileURL(__filename).href;" },
  // The bundled packages' licence notices are kept, at the end of the file.
  legalComments: 'eof',
  logLevel: 'warning',
  // Two thirds of the size, so a third less to read and decode at every start; names are
  // kept (messages and stack traces name the functions), and the source map
  // (ebpf-lab.cjs.map, to dist/src: \`node --enable-source-maps\`) gives the lines.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: false,
});

// Pure ASCII: Node decodes the file at every start, and UTF-8 with any other character in it
// takes the slow path (~10 ms more here). esbuild escapes strings; a comment it keeps (one in
// an array, say) or a regular expression keeps its characters as they are.
const bytes = readFileSync(dist('ebpf-lab.cjs'));
const at = bytes.findIndex((b) => b > 0x7f);
if (at >= 0) {
  const line = bytes.subarray(0, at).toString('latin1').split('\n').length;
  throw new Error(
    `dist/ebpf-lab.cjs:${line} has a character that is not ASCII: ` +
      'write it as an escape (\\u2014) or in ASCII in the source',
  );
}

// import() of a string (a package left outside) would fail in the bundle: the launcher runs it
// as a script, where import() has no loader. Such packages go through src/load.ts.
const literal = /\bimport\((["'`])([^"'`]+)\1\)/.exec(bytes.toString('latin1'));
if (literal)
  throw new Error(`dist/ebpf-lab.cjs imports ${literal[2]} with import(): load it with importPackage (src/load.ts)`);
