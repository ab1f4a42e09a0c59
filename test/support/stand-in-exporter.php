<?php
// Test stand-in for ebpf_exporter (test/integration/lab.test.ts): serves series shaped like
// the ones ebpf_exporter exports for the lab's bpf/*.yaml, in Prometheus' text format, with
// `le` values printed the way the exporter prints them (Go's shortest float format). Counters
// grow linearly from the moment in $T0 at fixed rates per second, so that Prometheus' rate()
// and histogram_quantile() give values a test can compute by hand. Run it with
//   T0=$(date +%s.%N) php -S 127.0.0.1:9435 stand-in-exporter.php
// It is not installed on lab hosts.
header('Content-Type: text/plain; version=0.0.4');
$t = max(0.0, microtime(true) - (float)getenv('T0'));

// 2^0 .. 2^26 microseconds in seconds, and 2^0 .. 2^24 bytes, as the exporter prints them.
$reqLe = ['1e-06', '2e-06', '4e-06', '8e-06', '1.6e-05', '3.2e-05', '6.4e-05', '0.000128', '0.000256',
    '0.000512', '0.001024', '0.002048', '0.004096', '0.008192', '0.016384', '0.032768', '0.065536',
    '0.131072', '0.262144', '0.524288', '1.048576', '2.097152', '4.194304', '8.388608', '16.777216',
    '33.554432', '67.108864', '+Inf'];
$memLe = ['1', '2', '4', '8', '16', '32', '64', '128', '256', '512', '1024', '2048', '4096', '8192',
    '16384', '32768', '65536', '131072', '262144', '524288', '1.048576e+06', '2.097152e+06',
    '4.194304e+06', '8.388608e+06', '1.6777216e+07', '+Inf'];

$out = [];
// Requests per second: [sapi, uri, method, rate, first bucket index holding them, seconds each].
foreach ([['apache', '/index.php', 'GET', 1, 10, 0.001], ['fpm', '/mem.php', 'GET', 3, 13, 0.005],
          ['apache', '/slow.php', 'POST', 1, 26, 100]] as [$sapi, $uri, $method, $rate, $first, $each]) {
    $l = sprintf('sapi="%s",uri="%s",method="%s"', $sapi, $uri, $method);
    foreach ($reqLe as $i => $le) {
        $v = ($le === '+Inf' || $i >= $first) ? $rate * $t : 0;
        $out[] = sprintf('ebpf_exporter_php_request_duration_seconds_bucket{%s,le="%s"} %.6f', $l, $le, $v);
    }
    $out[] = sprintf('ebpf_exporter_php_request_duration_seconds_sum{%s} %.6f', $l, $rate * $each * $t);
    $out[] = sprintf('ebpf_exporter_php_request_duration_seconds_count{%s} %.6f', $l, $rate * $t);
}
// memcached sets per second: 20 of (512, 1024] bytes, 1 of (4 MiB, 8 MiB].
foreach ($memLe as $i => $le) {
    $v = ($le === '+Inf' || $i >= 23) ? 21 * $t : ($i >= 10 ? 20 * $t : 0);
    $out[] = sprintf('ebpf_exporter_memcached_set_value_bytes_bucket{le="%s"} %.6f', $le, $v);
}
$out[] = sprintf('ebpf_exporter_memcached_set_value_bytes_sum %.6f', (20 * 1000 + 5000000) * $t);
$out[] = sprintf('ebpf_exporter_memcached_set_value_bytes_count %.6f', 21 * $t);
$out[] = sprintf('ebpf_exporter_php_compile_file_total{sapi="apache",dir="/var/www/html/path1"} %.6f', 0.5 * $t);
$out[] = sprintf('ebpf_exporter_php_compile_file_total{sapi="fpm",dir="/var/www/html"} %.6f', 0.25 * $t);
$out[] = sprintf('ebpf_exporter_php_exception_thrown_total{sapi="apache",class="RuntimeException"} %.6f', 0.2 * $t);
$out[] = sprintf('ebpf_exporter_php_exception_caught_total{sapi="apache",class="RuntimeException"} %.6f', 0.1 * $t);
echo implode("\n", $out), "\n";
