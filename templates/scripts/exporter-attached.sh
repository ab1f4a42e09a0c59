# ebpf-exporter's verify: prints NOT-INSTALLED without the binary @BINARY@; else waits
# for the exporter to serve /metrics on @LISTEN@ (@WAIT_METRICS@: it loads its programs
# before it listens) and prints its program and config series.
command -v @BINARY@ >/dev/null || { echo NOT-INSTALLED; exit 0; }
@WAIT_METRICS@
curl -s -m 10 http://@LISTEN@/metrics | grep -E '^ebpf_exporter_(ebpf_program_attached|ebpf_program_info|enabled_configs)'
