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
# os-release line by line with the shell's read instead of cat: the same bytes (-r keeps
# backslashes, IFS= the blanks, and a last line without a newline is printed without one).
echo '== osrel'
l=
while IFS= read -r l; do printf '%s\n' "$l"; done 2>/dev/null </etc/os-release
printf '%s' "$l"
# /proc/sys/kernel/osrelease is what `uname -r` prints (both are the kernel's utsname
# release); the machine (`uname -m`) has no such file on every kernel this runs on.
echo '== uname'
uname -m
r=
read -r r 2>/dev/null </proc/sys/kernel/osrelease
[ -n "$r" ] || r=$(uname -r)
echo "$r"
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
# the files with "stapsdt" in them (the notes' owner, the ".note.stapsdt" section name),
# in glob order. One grep -l for all of them: it names each file that has it, in the order
# given, and stops reading a file at its first match. (Its notes and string table are at
# the end of the file, so grep reads it whole; one grep over two 5 MB files still costs
# less than a tail and a grep for each.) The script ends with status 0 whatever grep found:
# a PHP without the notes is a fact like any other (the snapshot takes the facts guess only
# from a script that exited 0, so a status 1 here cost such a host a round trip every run).
echo '== stapsdt'
set --
for f in /usr/lib/apache2/modules/libphp*.so /usr/sbin/php-fpm*; do
  [ -f "$f" ] && set -- "$@" "$f"
done
if [ $# != 0 ]; then
  s=$(grep -l -a stapsdt -- "$@")
  [ -z "$s" ] || printf '%s\n' "$s"
fi
true
