# One bench measurement: ab warms up with 200 requests, then runs @CONCURRENCY@ at a time
# for @SECONDS@ s against @URL@; prints ab's summary, `@@CSV` and its percentile CSV,
# `@@ENV` and USE_ZEND_DTRACE of the running apache2 (@APACHE_ENV@).
c=$(mktemp)
ab -q -n 200 -c @CONCURRENCY@ @URL@ >/dev/null 2>&1
ab -q -c @CONCURRENCY@ -t @SECONDS@ -n 10000000 -e "$c" @URL@ 2>&1
echo '@@CSV'; cat "$c"; rm -f "$c"
echo '@@ENV'; @APACHE_ENV@
