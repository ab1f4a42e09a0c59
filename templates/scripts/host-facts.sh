# The host facts the steps read (src/facts/host.ts), one `== name` section each. A fact
# costs a run's time on every check, so the script starts few processes: globs list the
# files, `read` reads the one-line ones.
each() { for f in "$@"; do [ -e "$f" ] && echo "$f"; done; }
# (A sysctl file answers a one-byte read at offset 0 only: read sees "2" and then the end,
# with no newline, and fails although it read the value.)
line() {
  l=
  read -r l <"$1"
  [ -n "$l" ] && echo "$l"
} 2>/dev/null
echo '== osrel'; cat /etc/os-release 2>/dev/null
echo '== uname'; uname -m; uname -r
echo '== btf'; test -r /sys/kernel/btf/vmlinux && echo yes
echo '== cloudinit'; command -v cloud-init 2>/dev/null
echo '== libphp'; each /usr/lib/apache2/modules/libphp*.so
echo '== fpm'; each /usr/sbin/php-fpm*
echo '== cli'; each /usr/bin/php[0-9]*
echo '== memc'; each /usr/lib/*-linux-gnu/libmemcached.so.*
echo '== apcu'; each /usr/lib/php/*/apcu.so
echo '== perf'; line /proc/sys/kernel/perf_event_paranoid
echo '== vsig'; line /proc/version_signature
# The PHP module and fpm binaries that carry USDT notes (PHP built with --enable-dtrace):
# their section names (".note.stapsdt") are in the string table at the end of the ELF file,
# so the last 64 KiB say it; a file that does not is searched whole, as before.
echo '== stapsdt'
for f in /usr/lib/apache2/modules/libphp*.so /usr/sbin/php-fpm*; do
  [ -f "$f" ] || continue
  { tail -c 65536 "$f" | grep -q -a stapsdt; } || grep -q -a -m1 stapsdt "$f" && echo "$f"
done
