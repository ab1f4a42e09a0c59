# What keeps apt busy, one line each, nothing when apt is idle: a process holding one of
# apt's or dpkg's locks (POSIX/OFD locks in /proc/locks, matched by the lock file's inode),
# apt/apt-get/dpkg/aptitude themselves, an unattended-upgrade run, or the apt-daily script
# that starts them. Not any process named
# "unattended-upgr": unattended-upgrade-shutdown has that name too, and it waits for shutdown
# all day on every Ubuntu host.
for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do
  i=$(stat -c %i "$f" 2>/dev/null) || continue
  awk -v i=":$i" -v f="$f" '$2 ~ /POSIX|OFDLCK/ && index($6 " ", i " ") { print "lock " f " held by pid " $5 }' /proc/locks
done
pgrep -a -x 'apt|apt-get|dpkg|aptitude'
pgrep -a -f 'bin/unattended-upgrade( |$)'
# apt-daily(-upgrade).service's own script: between its apt-get and unattended-upgrade runs
# it holds no lock and runs no apt for a moment, and is still not done.
pgrep -a -f 'apt\.systemd\.daily( |$)'
true
