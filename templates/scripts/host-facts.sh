# The host facts the steps read (src/facts/host.ts), one `== name` section each.
echo '== osrel'; cat /etc/os-release 2>/dev/null
echo '== uname'; uname -m; uname -r
echo '== btf'; test -r /sys/kernel/btf/vmlinux && echo yes
echo '== virt'; systemd-detect-virt 2>/dev/null || true
echo '== cloudinit'; command -v cloud-init 2>/dev/null
echo '== user'; getent passwd 1000 2>/dev/null | cut -d: -f1
echo '== libphp'; ls -1 /usr/lib/apache2/modules/libphp*.so 2>/dev/null
echo '== fpm'; ls -1 /usr/sbin/php-fpm* 2>/dev/null
echo '== cli'; ls -1 /usr/bin/php[0-9]* 2>/dev/null
echo '== memc'; ls -1 /usr/lib/*-linux-gnu/libmemcached.so.* 2>/dev/null
echo '== apcu'; ls -1 /usr/lib/php/*/apcu.so 2>/dev/null
echo '== perf'; cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null
echo '== vsig'; cat /proc/version_signature 2>/dev/null
# The PHP module and fpm binaries that carry USDT notes (PHP built with --enable-dtrace).
echo '== stapsdt'; for f in /usr/lib/apache2/modules/libphp*.so /usr/sbin/php-fpm*; do [ -f "$f" ] && grep -q -a -m1 stapsdt "$f" && echo "$f"; done
