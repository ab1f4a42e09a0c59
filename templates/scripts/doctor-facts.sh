# Every fact `ebpf-lab doctor` reads (src/facts/doctor.ts), one `== name` section each;
# runs as root (sudo) like the lab does. @APACHE_PID@ is the main-pid script of
# apache2.service, @NETEM_TEST@ the netem-test script, @BPFTOOL_FACTS@ the bpftool-facts script.
# bt_test PROGRAM: runs a bpftrace one-liner (30 s at most), prints `rc=<exit>` and its last lines.
bt_test() { out=$(timeout 30 bpftrace -e "$1" 2>&1); echo "rc=$?"; echo "$out" | grep -v RLIMIT_MEMLOCK | grep -v '^$' | tail -3; }
echo '== uname'; uname -r
echo '== os'; . /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"
echo '== btf'; test -r /sys/kernel/btf/vmlinux && echo yes
echo '== caps'; id -u; grep '^CapEff' /proc/self/status
echo '== tracefs'; awk '$3 == "tracefs" { print $2 }' /proc/mounts
echo '== uprobe'; test -d /sys/bus/event_source/devices/uprobe && echo pmu; for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do test -e $d/uprobe_events && echo events; done
echo '== bpftrace'; command -v bpftrace >/dev/null && bpftrace --version
echo '== bpftest'; command -v bpftrace >/dev/null && { bt_test 'interval:ms:100 { printf("ebpf-lab-ok\n"); exit(); }'; }
echo '== begintest'; command -v bpftrace >/dev/null && { bt_test 'BEGIN { printf("ebpf-lab-ok\n"); exit(); }'; }
echo '== btinfo'; command -v bpftrace >/dev/null && bpftrace --info 2>&1 | grep -E '^[[:space:]]*btf( [(][^)]*[)])?:'
echo '== bpftool'
@BPFTOOL_FACTS@
echo '== libbpf'; dpkg-query -W -f='${Version}\n' libbpf-dev 2>/dev/null; test -f /usr/include/bpf/usdt.bpf.h && echo usdt.bpf.h
echo '== php'; command -v php >/dev/null && { php -r 'echo PHP_VERSION, "\n";'; php -i 2>/dev/null | grep 'DTrace Support'; }
# The module the running apache2 master mapped and the running php-fpm master's binary;
# the installed files when they are not running.
echo '== usdt'
a=$(@APACHE_PID@); lib=$(grep -o '/[^ ]*libphp[0-9.]*\.so' /proc/$a/maps 2>/dev/null | head -1)
[ -n "$lib" ] || lib=$(ls -1 /usr/lib/apache2/modules/libphp*.so 2>/dev/null | tail -1)
f=$(pgrep -o -f '^php-fpm: master' 2>/dev/null); bin=$(readlink /proc/$f/exe 2>/dev/null); [ -n "$bin" ] || bin=$(ls -1 /usr/sbin/php-fpm* 2>/dev/null | tail -1)
for x in "mod_php $lib" "php-fpm $bin"; do
  set -- $x; [ -n "$2" ] || continue
  if command -v readelf >/dev/null; then n=$(readelf -n "$2" 2>/dev/null | grep -c 'stapsdt'); else n=$(bpftrace -l "usdt:$2:*" 2>/dev/null | wc -l); fi
  echo "$1 $2 $n"
done
echo '== netem'
@NETEM_TEST@
# The workshop's bt/memc.bt names @WORKSHOP_MEMC_LIB@: is it there, where is libmemcached
# here, and does bpftrace list the uprobe the workshop uses?
echo '== memc'
w=@WORKSHOP_MEMC_LIB@; test -e $w && echo "workshop $w"
for f in /usr/lib/*-linux-gnu/libmemcached.so.11; do test -e "$f" && echo "found $f"; done
test -e $w && command -v bpftrace >/dev/null && timeout 30 bpftrace -l "uprobe:$w:memcached_set" 2>/dev/null | grep -q memcached_set && echo "probe listed"
