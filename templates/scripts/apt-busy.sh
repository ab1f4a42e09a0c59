# What keeps apt busy, one line each, nothing when apt is idle: a process holding one of
# apt's or dpkg's locks (POSIX/OFD locks in /proc/locks, matched by the lock file's inode),
# apt/apt-get/dpkg/aptitude themselves, an unattended-upgrade run, or the apt-daily script
# that starts them. Not any process named
# "unattended-upgr": unattended-upgrade-shutdown has that name too, and it waits for shutdown
# all day on every Ubuntu host.
# The lines are what `stat | awk` over /proc/locks and `pgrep -a -x 'apt|apt-get|dpkg|
# aptitude'` then `pgrep -a -f 'bin/unattended-upgrade( |$)|apt\.systemd\.daily( |$)'` print,
# but the shell finds them itself: this runs in every snapshot, and each of those processes
# cost more than the whole loop over /proc. @MAX_LINES@: how many lines at most (0: all).
nl='
'
# The lock files' inodes: the "ino:" line of /proc/self/fdinfo for the file opened on fd 3
# (the shell's own fd, so /proc/self is this shell). It is the inode /proc/locks names (both
# are the open file's inode); stat only where a kernel's fdinfo has no "ino:" (before 5.14).
O=
L=
for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do
  [ -e "$f" ] || continue
  i=
  { while read -r k v; do if [ "$k" = ino: ]; then i=$v; fi; done </proc/self/fdinfo/3; } 2>/dev/null 3<"$f"
  [ -n "$i" ] || i=$(stat -c %i -- "$f" 2>/dev/null) || continue
  L="$L$i $f$nl"
done
# /proc/locks: "<n>: POSIX  ADVISORY  WRITE <pid> <maj>:<min>:<inode> …" (a waiter's line has
# "->" second and is not a holder). The lock files are matched by inode alone, as awk did.
if [ -n "$L" ]; then
  while read -r _ t _ _ pid id _; do
    case $t in *POSIX* | *OFDLCK*) ;; *) continue ;; esac
    m=
    R=$L
    while [ -n "$R" ]; do
      l=${R%%"$nl"*}
      R=${R#*"$nl"}
      [ "${l%% *}" = "${id##*:}" ] && m=${l#* }
    done
    [ -n "$m" ] && O="${O}lock $m held by pid $pid$nl"
  done </proc/locks
fi
# pgrep -x matches the process name (/proc/PID/comm). A script started by its #! line is
# named after its file, cut to 15 bytes: unattended-upgrade and unattended-upgrade-shutdown
# are both "unattended-upgr", apt.systemd.daily is "apt.systemd.dai". Only those two names
# can match pgrep -f's pattern (apt-daily.service runs the script by its path, and
# unattended-upgrade is a #! script), so only their command lines are read: the shell drops
# the NULs between the arguments, which keeps "bin/unattended-upgrade" if it was there (it
# has no NUL in it; the shutdown's /usr/share/unattended-upgrades/unattended-upgrade-shutdown
# lacks it). A match is then checked and printed as pgrep -a does, the arguments joined by
# spaces (tr; only when apt is busy). The globs by number of digits list the PIDs in
# ascending order, as pgrep does (one glob would sort 10 before 9).
X=
F=
for d in /proc/[0-9] /proc/[0-9][0-9] /proc/[0-9][0-9][0-9] /proc/[0-9][0-9][0-9][0-9] /proc/[0-9][0-9][0-9][0-9][0-9] \
  /proc/[0-9][0-9][0-9][0-9][0-9][0-9] /proc/[0-9][0-9][0-9][0-9][0-9][0-9][0-9]; do
  c=
  read -r c 2>/dev/null <"$d/comm"
  case $c in
  apt | apt-get | dpkg | aptitude) k=x ;;
  unattended-upgr | apt.systemd.dai)
    s=
    read -r s 2>/dev/null <"$d/cmdline"
    case $s in *bin/unattended-upgrade* | *apt.systemd.daily*) k=f ;; *) continue ;; esac
    ;;
  *) continue ;;
  esac
  # The last argument's NUL becomes a trailing space, which pgrep does not print; a process
  # with no command line (a zombie) is shown by its name, as pgrep does.
  s=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)
  s=${s% }
  [ -n "$s" ] || s=$c
  if [ $k = x ]; then
    X="$X${d#/proc/} $s$nl"
  else
    case "$s " in *'bin/unattended-upgrade '* | *'apt.systemd.daily '*) F="$F${d#/proc/} $s$nl" ;; esac
  fi
done
# apt-daily(-upgrade).service's own script counts too: between its apt-get and
# unattended-upgrade runs it holds no lock and runs no apt for a moment, and is still not done.
O=$O$X$F
# The first n lines (0: all of them), as `| head -n` printed them, without its two
# processes. Each line ends with a newline.
n=@MAX_LINES@
if [ "$n" = 0 ]; then
  printf '%s' "$O"
else
  while [ "$n" -gt 0 ] && [ -n "$O" ]; do
    printf '%s\n' "${O%%"$nl"*}"
    O=${O#*"$nl"}
    n=$((n - 1))
  done
fi
