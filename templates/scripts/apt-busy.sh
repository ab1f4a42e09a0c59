# What keeps apt busy, one line each, nothing when apt is idle: a process holding one of
# apt's or dpkg's locks (POSIX/OFD locks in /proc/locks, matched by the lock file's inode),
# apt/apt-get/dpkg/aptitude themselves, an unattended-upgrade run, or the apt-daily script
# that starts them. Not any process named
# "unattended-upgr": unattended-upgrade-shutdown has that name too, and it waits for shutdown
# all day on every Ubuntu host.
# One stat for the lock files' inodes, one awk over /proc/locks ("<n>: POSIX ADVISORY WRITE
# <pid> <maj>:<min>:<inode> …"), one pgrep per kind of match.
stat -c '%i %n' -- /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock 2>/dev/null |
  awk 'NR == FNR { lock[$1] = $2; next }
    $2 ~ /POSIX|OFDLCK/ { n = split($6, id, ":"); if (id[n] in lock) print "lock " lock[id[n]] " held by pid " $5 }' - /proc/locks
pgrep -a -x 'apt|apt-get|dpkg|aptitude'
# apt-daily(-upgrade).service's own script counts too: between its apt-get and
# unattended-upgrade runs it holds no lock and runs no apt for a moment, and is still not done.
pgrep -a -f 'bin/unattended-upgrade( |$)|apt\.systemd\.daily( |$)'
true
