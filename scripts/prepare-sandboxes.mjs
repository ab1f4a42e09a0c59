#!/usr/bin/env node
// Builds (or finds in the cache) the base root filesystem and local package repository of
// every sandbox OS, once per cache dir, so the test suites and CI only copy them:
//   node scripts/prepare-sandboxes.mjs [os-id ...]      (default: every supported OS)
// Uses the built CLI's modules (npm run build first) and EBPF_LAB_CACHE.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dist = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const { SANDBOX_OSES, sandboxOs, parseMirror, MIRROR_ENV } = await dist('src/targets/sandbox-os.js');
const { ensureRepo } = await dist('src/targets/sandbox-image.js');
const { ensureHostTools } = await dist('src/targets/host-tools.js');
const { sandboxPackages } = await dist('steps/index.js');
const { cacheDir } = await dist('src/state.js');

const ids = process.argv.slice(2).length ? process.argv.slice(2) : SANDBOX_OSES.map((o) => o.id);
const mirror = parseMirror(process.env[MIRROR_ENV]);
const stamp = () => new Date().toISOString().slice(11, 19);
await ensureHostTools((l) => console.log(`[prepare ${stamp()}] ${l}`));
for (const id of ids) {
  const os = sandboxOs(id);
  const t0 = Date.now();
  await ensureRepo(cacheDir(), { os, mirror }, sandboxPackages(os), (l) =>
    console.log(`[prepare ${stamp()} ${id}] ${l}`),
  );
  console.log(`[prepare ${stamp()} ${id}] base and repository ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
