# The bench measurements of one state: ab warms up with 200 requests, then @RUNS@ runs of
# @CONCURRENCY@ requests at a time for @SECONDS@ s each against @URL@; each run prints ab's
# summary, `@@CSV`, its percentile CSV and `@@RUN`; at the end `@@ENV` and USE_ZEND_DTRACE of
# the running apache2 (@APACHE_ENV@).
c=$(mktemp)
ab -q -n 200 -c @CONCURRENCY@ @URL@ >/dev/null 2>&1
for i in $(seq @RUNS@); do
  ab -q -c @CONCURRENCY@ -t @SECONDS@ -n 10000000 -e "$c" @URL@ 2>&1
  echo '@@CSV'; cat "$c"; echo '@@RUN'
done
rm -f "$c"
echo '@@ENV'; @APACHE_ENV@
