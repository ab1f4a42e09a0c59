# Defines cgroup_leader CG: prints the main process of the cgroup CG (systemd's ControlGroup=
# of a unit) when systemd knows no MainPID: the newest process in it whose parent is PID 1, on
# cgroup v2 or v1/hybrid (the newest because an old master may still be exiting after a
# graceful stop). Debian's apache2.service is Type=forking without PIDFile, so systemd may not
# know its main PID. Prints nothing when there is none. Used by main-pid.sh and units-state.sh
# (which sets l empty, calls it in its own shell and reads the PID from $l, which it sets to
# what it prints).
cgroup_leader() {
  cg=$1
  for d in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
    [ -n "$cg" ] && [ -r "$d$cg/cgroup.procs" ] || continue
    b=-1
    l=
    while read -r c; do
      s=
      read -r s </proc/$c/stat 2>/dev/null || continue
      set -- ${s##*) }
      [ "$2" = 1 ] && [ "${20}" -gt "$b" ] && b=${20} && l=$c
    done <"$d$cg/cgroup.procs"
    [ -n "$l" ] && echo "$l"
    return
  done
}
