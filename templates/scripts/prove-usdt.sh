# dtrace's prove, one round trip: the PHP module and php-fpm binary the running masters
# loaded (LIB, BIN) and the USDT probes in each (LIBPROBES, BINPROBES), then bpftrace
# watching request__startup and compile__file__entry of both while a fresh page @PAGE@
# (it prints token @TOKEN@) is requested through mod_php and php-fpm: the SEEN lines
# with the token, `Attaching` and any ERROR. @APACHE_PID@ and @FPM_PID@ are main-pid
# scripts; @WAIT_ATTACHED@ waits for bpftrace to attach, @WAIT_EXIT@ for it to exit.
a=$(@APACHE_PID@); f=$(@FPM_PID@)
lib=$(grep -o '/[^ ]*libphp[0-9.]*\.so' /proc/$a/maps | head -1); bin=$(readlink /proc/$f/exe)
echo "LIB $lib"; echo "BIN $bin"
echo "LIBPROBES $(bpftrace -l "usdt:$lib:php:*" 2>/dev/null | sed 's/.*://' | sort -u | tr '\n' ' ')"
echo "BINPROBES $(bpftrace -l "usdt:$bin:php:*" 2>/dev/null | sed 's/.*://' | sort -u | tr '\n' ' ')"
prog="usdt:$lib:php:request__startup { printf(\"SEEN apache request %s\\n\", str(arg1)); }
usdt:$lib:php:compile__file__entry { printf(\"SEEN apache compile %s\\n\", str(arg1)); }
usdt:$bin:php:request__startup { printf(\"SEEN fpm request %s\\n\", str(arg1)); }
usdt:$bin:php:compile__file__entry { printf(\"SEEN fpm compile %s\\n\", str(arg1)); }"
out=$(mktemp); page=@PAGE@
trap 'rm -f "$out" "$page"' EXIT
bpftrace -e "$prog" > "$out" 2>&1 & bp=$!
@WAIT_ATTACHED@
sleep 0.3
printf '<?php echo "probe @TOKEN@";\n' > "$page"
curl -s -m 10 -o /dev/null http://127.0.0.1/@PAGE_NAME@; curl -s -m 10 -o /dev/null http://127.0.0.1/fpm/@PAGE_NAME@
# bpftrace 0.17 may only notice SIGINT at its next probe event: keep making requests until it exits.
sleep 1; kill -INT $bp 2>/dev/null
@WAIT_EXIT@
kill -KILL $bp 2>/dev/null; wait $bp 2>/dev/null
grep -E '^(SEEN|Attaching|ERROR)' "$out" | grep -E '@TOKEN@|^Attaching|^ERROR' | head -20
