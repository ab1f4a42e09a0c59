# prometheus' prove: the answers of @LISTEN@ to up{job="ebpf"} and to the count of
# ebpf_exporter_php_* series, one per line, then `exporter` when @EXPORTER_BINARY@ exists
# (else `none`), then one answer per line for each query in @DERIVED@ (the lab's series and
# the workshop's series derived from them, in pairs).
q() { curl -s -m 10 --data-urlencode "query=$1" http://@LISTEN@/api/v1/query; }
q 'up{job="ebpf"}'; echo
q 'count({__name__=~"ebpf_exporter_php_.+"})'; echo
if test -x @EXPORTER_BINARY@; then echo exporter; else echo none; fi
@DERIVED@
