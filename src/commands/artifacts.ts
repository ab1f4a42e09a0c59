import { lockPath, readArtifactRecords, type ArtifactRecord, type Trust } from '../artifacts/cache.js';
import { cacheDir } from '../state.js';

/** How each kind of record is known to be right, in words (see artifacts/cache.ts `Trust`). */
const TRUST: Record<Trust, string> = {
  pinned: 'sha256 pinned in ebpf-lab, from a source other than the download',
  tofu: "trust on first use: the sha256 from the release's own sha256sums.txt, recorded at the first fetch; later copies must match it",
  fingerprint: 'signing key accepted for the full fingerprint of its primary key, pinned in ebpf-lab',
};

/**
 * `ebpf-lab artifacts`: every download recorded in the local cache (releases and signing
 * keys) with its sha256, how it is trusted, where it came from and when. Reads the record
 * only; never fetches. `--output json` prints one object `{ lock, artifacts: [...] }`.
 */
export async function artifactsCommand(output: string | undefined, write: (s: string) => void): Promise<number> {
  const dir = cacheDir();
  const records = await readArtifactRecords(dir);
  if (output === 'json') {
    write(
      JSON.stringify(
        { lock: lockPath(dir), artifacts: records.map((r) => ({ ...r, means: TRUST[r.trust] })) },
        null,
        2,
      ),
    );
    return 0;
  }
  if (records.length === 0) {
    write(`no artifacts recorded yet in ${lockPath(dir)}: \`ebpf-lab up\` records each download it makes`);
    return 0;
  }
  write(`artifacts recorded in ${lockPath(dir)}:`);
  for (const r of records) write(formatRecord(r));
  const kinds = [...new Set(records.map((r) => r.trust))];
  write('');
  for (const k of kinds) write(`${k.padEnd(11)} ${TRUST[k]}`);
  return 0;
}

/** One artifact: name, sha256, trust; then where from, checked against what, and when. */
export function formatRecord(r: ArtifactRecord): string {
  return [
    `${r.key}`,
    `    sha256 ${r.sha256}  (${r.trust})`,
    `    from ${r.source ?? 'unknown (recorded by an older ebpf-lab)'}${r.fetchedAt ? ` at ${r.fetchedAt}` : ''}`,
    ...(r.checkedBy ? [`    checked against ${r.checkedBy}`] : []),
  ].join('\n');
}
