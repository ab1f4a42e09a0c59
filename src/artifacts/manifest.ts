/**
 * Every download ebpf-lab installs, pinned: name, version, per-architecture file and
 * URL, and where its sha256 comes from. Release checksums are taken from the release's
 * own sha256sums.txt and recorded in the local cache on first fetch (artifacts.lock):
 * from then on a file whose hash differs is refused. A `sha256` given here wins over both.
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
  };
}

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
  };
}

/**
 * Grafana's APT signing key. The key was rotated in Dec 2025 (the workshop's gpg.key +
 * gpg --dearmor recipe broke); the current method is gpg-full.key saved as an .asc
 * keyring. It has no checksum file: it is checked by the key id it must contain.
 */
export const GRAFANA_KEY = {
  id: 'grafana-apt-key',
  url: 'https://apt.grafana.com/gpg-full.key',
  file: 'grafana-gpg-full.key',
  /** Long id of the current signing key (old setups fail with NO_PUBKEY 963FA27710458545). */
  keyId: '963FA27710458545',
} as const;

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
