import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs no host and runs in seconds; `integration` drives real
// parts (sshd, the systemd-nspawn sandbox, bpftrace, the kernel verifier) and is
// never skipped: scripts/test.sh prepares what it needs first.
export default defineConfig({
  test: {
    // Integration files share one machine (sandboxes, ports): run them one at a time.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          restoreMocks: true,
          // Generous: in `npm test` the unit files share 2 cores with three sandbox streams.
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          pool: 'forks',
        },
      },
      {
        test: {
          // Faults, drift, bad input, concurrency, security and load on ONE sandbox lab
          // that the global setup provisions and destroys (RELIABILITY.md).
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/reliability/global-setup.ts'],
          // One lab for every file: never two files at once.
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
          pool: 'forks',
        },
      },
      {
        test: {
          // Every supported sandbox OS (Ubuntu 22.04/24.04/26.04, Debian 12/13) from its own
          // archive: fresh up, verify, no-op up, drift, down.
          name: 'matrix',
          include: ['test/matrix/**/*.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 900_000,
          pool: 'forks',
        },
      },
    ],
  },
});
