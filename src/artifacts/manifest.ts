/**
 * Every download ebpf-lab installs: name, version, per-architecture file and URL, and where
 * its sha256 comes from. Two kinds, said plainly:
 * - pinned: `sha256` given here, taken from a source other than the download itself (named
 *   in `pinSource`); a file that differs is refused.
 * - trust on first use (no `sha256` here): on the first fetch the value is read from the
 *   release's own sha256sums.txt — which proves only that the file and the list agree — and
 *   recorded in the local cache (`artifacts.lock.json`, listed by `ebpf-lab artifacts`); from
 *   then on a file whose hash differs from the record is refused.
 */
export type Arch = 'x86_64' | 'aarch64';

export interface ArtifactSpec {
  id: string;
  version: string;
  /** File name of the asset for an architecture (also its name in the cache and in a mirror). */
  file: (arch: Arch) => string;
  url: (arch: Arch) => string;
  /** The release's checksum list ("<sha256>  <file>" lines). */
  checksumsUrl?: string;
  /** Known sha256 per architecture, when pinned in the tool. */
  sha256?: Partial<Record<Arch, string>>;
  /** Where the pinned sha256 values come from (repository, file, commit). */
  pinSource?: string;
}

const GOARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

export function ebpfExporter(version: string): ArtifactSpec {
  const base = `https://github.com/cloudflare/ebpf_exporter/releases/download/v${version}`;
  return {
    id: 'ebpf_exporter',
    version,
    // Release assets are bare static binaries named after `uname -m` (since v2.4.1).
    file: (arch) => `ebpf_exporter.${arch}`,
    url: (arch) => `${base}/ebpf_exporter.${arch}`,
    checksumsUrl: `${base}/sha256sums.txt`,
    // No pinned sha256: no source other than the release itself was found for the 2.5.1
    // binaries (packagers build ebpf_exporter from source), so it stays trust on first use.
  };
}

/**
 * sha256 of the Prometheus release tarballs, from a source other than the download: OpenStack
 * Kolla pins them for its prometheus-server image, github.com/openstack/kolla,
 * kolla/common/sources.py, commit 67e37b703ad6745aee4feec1080ee44e8b01ce74 (2025-08-27,
 * "Prometheus and core components update": prometheus-server 3.2.1 -> 3.5.0). The amd64 value
 * is also pinned, independently, by several public CI scripts and Ansible role defaults.
 */
const PROMETHEUS_SHA256: Record<string, { sha256: Record<Arch, string>; source: string }> = {
  '3.5.0': {
    sha256: {
      x86_64: 'e811827af26d822afb09a4f28314f61b618b12cff5369835a67f674d8b46f39a',
      aarch64: '173389cc42bf09c4e6e54cb53fa07a5a835d7c261e14775d2183181d6e385d1c',
    },
    source: 'openstack/kolla kolla/common/sources.py @ 67e37b703ad6745aee4feec1080ee44e8b01ce74',
  },
};

/** Prometheus 3.x LTS line; the workshop used 3.1.0. */
export const PROMETHEUS_VERSION = '3.5.0';

export function prometheus(version = PROMETHEUS_VERSION): ArtifactSpec {
  const base = `https://github.com/prometheus/prometheus/releases/download/v${version}`;
  return {
    id: 'prometheus',
    version,
    file: (arch) => `prometheus-${version}.linux-${GOARCH[arch]}.tar.gz`,
    url: (arch) => `${base}/prometheus-${version}.linux-${GOARCH[arch]}.tar.gz`,
    checksumsUrl: `${base}/sha256sums.txt`,
    ...(PROMETHEUS_SHA256[version]
      ? { sha256: PROMETHEUS_SHA256[version].sha256, pinSource: PROMETHEUS_SHA256[version].source }
      : {}),
  };
}

/**
 * Grafana's APT signing key, pinned by the full fingerprint of its primary key.
 *
 * The key file is https://apt.grafana.com/gpg-full.key (Grafana's current instructions, after
 * the workshop's `gpg.key | gpg --dearmor` recipe broke in 2025: grafana/grafana PR #116093,
 * 2026-01). It is Grafana's "full public keychain": the signing key plus its revoked
 * predecessors, kept in the file so clients learn of the revocations (Grafana's post-incident
 * review of 2023-09-06). Only the signing key reaches the keyring.
 *
 * - Signing key: B53A E77B ADB6 30A6 8304 6005 963F A277 1045 8545 ("Grafana Labs
 *   <engineering@grafana.com>", rsa3072, 2023-08-24; it lapsed on 2025-08-22, grafana/grafana
 *   #110073, and later copies carry a later expiry): the key that replaced 0E22EB88… in the rotation of
 *   2023-08-24 announced on apt.grafana.com, quoted in voxpupuli/puppet-grafana PR #336; old
 *   setups fail with NO_PUBKEY / EXPKEYSIG 963FA27710458545, its long key id.
 * - Retired (revoked): 4E40 DDF6 D76E 284A 4A67 80E4 8C8C 34C5 2409 8CB6 (rotated 2023-01-12)
 *   and 0E22 EB88 E39E 1227 7A77 60AE 9E43 9B10 2CF3 C0C6 (rotated 2023-08-24), same sources.
 *
 * No later primary key has been announced for the repository; a rotation to a new key means
 * adding its fingerprint here (until then such a file is refused, which is the point).
 */
/** A repository signing key to fetch, pinned by the full fingerprints of its primary keys. */
export interface SigningKeySpec {
  id: string;
  /** Whose key it is, for messages ("Grafana's APT repository"). */
  name: string;
  url: string;
  /** Name in the cache and in a mirror: `<cache>/artifacts/<id>/<file>`, `<mirror>/<id>/<file>`. */
  file: string;
  /** Full fingerprints (upper-case hex) of the primary keys apt may trust: only these reach the keyring. */
  fingerprints: readonly string[];
  /**
   * Full fingerprints of the publisher's revoked or superseded primary keys, which its key
   * file still carries (so clients learn of the revocation): accepted in the file, never
   * installed. Any primary key in neither list makes the whole file refused.
   */
  retired?: readonly string[];
}

export const GRAFANA_KEY = {
  id: 'grafana-apt-key',
  name: "Grafana's APT repository",
  url: 'https://apt.grafana.com/gpg-full.key',
  file: 'grafana-gpg-full.key',
  fingerprints: ['B53AE77BADB630A683046005963FA27710458545'],
  retired: ['4E40DDF6D76E284A4A6780E48C8C34C524098CB6', '0E22EB88E39E12277A7760AE9E439B102CF3C0C6'],
} as const satisfies SigningKeySpec;

export const GRAFANA_VERSION = '12.0.0';

export function archOf(uname: string): Arch {
  if (uname === 'x86_64' || uname === 'aarch64') return uname;
  throw new Error(`no ebpf-lab artifacts for architecture ${uname} (x86_64 and aarch64 are supported)`);
}

/** Parses a sha256sums.txt ("<hex>  <name>" or "<hex> *<name>"). */
export function parseChecksums(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^([0-9a-f]{64})\s+\*?(\S+)\s*$/i.exec(line.trim());
    if (r) m.set(r[2]!.replace(/^\.\//, ''), r[1]!.toLowerCase());
  }
  return m;
}
