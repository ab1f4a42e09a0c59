# prometheus' prove: the answers of @LISTEN@ to up{job="ebpf"} and to the count of
# ebpf_exporter_php_* series, one per line, then `exporter` when @EXPORTER_BINARY@ exists.
q() { curl -s -m 10 --data-urlencode "query=$1" http://@LISTEN@/api/v1/query; }
q 'up{job="ebpf"}'; echo
q 'count({__name__=~"ebpf_exporter_php_.+"})'; echo
test -x @EXPORTER_BINARY@ && echo exporter
