/** The parts of an ebpf_exporter config (bpf/<name>.yaml) the tests read. */
export interface Label {
  name: string;
  size: number;
  padding?: number;
  decoders: { name: string }[];
}

export interface Metric {
  name: string;
  labels?: Label[];
  bucket_max?: number;
}
