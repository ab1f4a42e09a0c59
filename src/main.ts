#!/usr/bin/env node
// Entry point: run the CLI and map errors to exit codes (2 bad input, 1 failure).
import { main, report } from './cli.js';

// `ebpf-lab --help | head`: a reader that stops early is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => (process.exitCode = report(e)),
);
