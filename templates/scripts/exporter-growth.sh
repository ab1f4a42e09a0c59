# ebpf-exporter's prove: prints NOT-INSTALLED without the binary @BINARY@; else the sum
# of the ebpf_exporter_php_* request, compile and exception series on @LISTEN@ before and
# after 80 requests to the sample pages of both SAPIs: `<before> <after>`.
sum() {
  curl -s -m 10 http://@LISTEN@/metrics |
    awk '/^ebpf_exporter_php_(request_duration_seconds_count|compile_file_total|exception_thrown_total)/ {s+=$NF} END {printf "%d\n", s}'
}
command -v curl >/dev/null; test -x @BINARY@ || { echo NOT-INSTALLED; exit 0; }
a=$(sum)
for i in $(seq 10); do
  for u in index.php path1/a.php exception.php mem.php?n=20; do
    curl -s -o /dev/null http://127.0.0.1/$u; curl -s -o /dev/null http://127.0.0.1/fpm/$u
  done
done
sleep 1; b=$(sum); echo "$a $b"
