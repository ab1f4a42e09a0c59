# The main PID of unit @UNIT@ (0 when it is not running); used inside $(...).
# Debian's apache2.service is Type=forking without PIDFile, so systemd may not know its
# main PID (MainPID=0 while active): then it is the newest process of the unit's cgroup
# whose parent is PID 1 (cgroup v2 or v1/hybrid; the newest because an old master may
# still be exiting after a graceful stop).
p=$(systemctl show -p MainPID --value @UNIT@ 2>/dev/null)
if [ "${p:-0}" = 0 ]; then
  cg=$(systemctl show -p ControlGroup --value @UNIT@ 2>/dev/null)
  for d in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
    [ -n "$cg" ] && [ -r "$d$cg/cgroup.procs" ] || continue
    b=-1
    for c in $(cat "$d$cg/cgroup.procs"); do
      s=$(sed 's/.*) //' /proc/$c/stat 2>/dev/null) || continue
      set -- $s
      [ "$2" = 1 ] && [ "${20}" -gt "$b" ] && b=${20} && p=$c
    done
    break
  done
fi
echo "${p:-0}"
