#!/usr/bin/env node
// Entry point: run the CLI and map errors to exit codes (2 bad input, 1 failure).
import { main, report } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => (process.exitCode = report(e)),
);
