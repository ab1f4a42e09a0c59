# The state of many units in one go: unitsProbe's batch (src/resources/systemd.ts). @UNITS@
# are the distinct units (quoted); @PRINT@ prints each probe's lines ("@MARK@ i", then
# "$o_<k>" for each of its units, k = the unit's place in @UNITS@). Each o_<k> is the line
# unit-state.sh prints for that unit: name, enablement (systemd's UnitFileState, what
# `systemctl is-enabled` prints), ActiveState (what `is-active` prints), main PID (the
# cgroup's leader when systemd knows none: cgroup-leader.sh), the main process's start
# (epoch seconds, 3 decimals; 0 when not running), its environment and systemd's Environment=
# (entries separated by \036). One `systemctl show` answers every unit, one `date` gives the
# time and one `grep` reads every running unit's environment; the rest is the shell's own.
@CGROUP_LEADER@
nl='
'
tab='	'
RS=$(printf '\036')
# Lines are cut from the string, not `read` (a system call per byte).
SHOW=$(systemctl show -p UnitFileState,ActiveState,MainPID,ControlGroup,Environment -- @UNITS@ 2>/dev/null)$nl
k=0
while [ -n "$SHOW" ]; do
  l=${SHOW%%"$nl"*}
  SHOW=${SHOW#*"$nl"}
  case $l in
  '') k=$((k + 1)) ;;
  UnitFileState=*) eval "e_$k=\${l#*=}" ;;
  ActiveState=*) eval "a_$k=\${l#*=}" ;;
  MainPID=*) eval "p_$k=\${l#*=}" ;;
  ControlGroup=*) eval "g_$k=\${l#*=}" ;;
  Environment=*) eval "v_$k=\${l#*=}" ;;
  esac
done
now=$(date +%s%N)
# What `getconf CLK_TCK` prints: the kernel's USER_HZ, 100 on x86_64 and aarch64 (the only
# machines the lab runs on; only alpha has another).
hz=100
read -r up _ </proc/uptime
up=${up%.*}${up#*.}0 # milliseconds (uptime has two decimals)
# First each unit's main process and its start, and the environ file of each running one,
# named /proc/$$/../<pid>/environ (the same file): no environment holds this shell's PID in
# such a path, so it marks where each file's text starts.
P=/proc/$$/../
E=
k=0
for u in @UNITS@; do
  eval "p=\${p_$k:-0} g=\${g_$k-}"
  # cgroup_leader leaves the PID it prints in $l too: no subshell to catch its output.
  if [ "$p" = 0 ]; then
    l=
    cgroup_leader "$g" >/dev/null
    p=${l:-0}
  fi
  t=
  s=
  if [ "$p" != 0 ] && [ -r /proc/$p/environ ] && read -r s </proc/$p/stat 2>/dev/null; then
    set -- ${s##*) }
    ms=$((now / 1000000 - up + ${20} * 1000 / hz))
    f=$((ms % 1000))
    case ${#f} in 1) f=00$f ;; 2) f=0$f ;; esac
    t=$((ms / 1000)).$f
    # (A PID twice, e.g. two names of one unit, is read once: sed would print it twice.)
    case "$E " in *" $P$p/environ "*) ;; *) E="$E $P$p/environ" ;; esac
  fi
  eval "p_$k=\$p t_$k=\$t"
  k=$((k + 1))
done
# One sed for every environ file instead of a `tr '\0' '\036'` each: with -z it takes the
# NUL-separated entries for lines, with -s each file apart; it prints each file's name (1F)
# and each entry with a \036 after it, each followed by a NUL, which the shell drops. So the
# text after "$P" is "<pid>/environ" and then what tr printed (tr left out the last \036 only
# when the area did not end with a NUL; the parser splits on \036 and does not see it).
G=
[ -z "$E" ] || G=$(LC_ALL=C sed -z -s -e 1F -e "s/\$/$RS/" -- $E 2>/dev/null)
G=${G#"$P"}
while [ -n "$G" ]; do
  l=${G%%"$P"*}
  G=${G#"$l"}
  G=${G#"$P"}
  eval "n_${l%%/*}=\${l#*/environ}"
done
k=0
for u in @UNITS@; do
  eval "e=\${e_$k-} a=\${a_$k-} p=\$p_$k t=\$t_$k v=\${v_$k-}"
  line=$u$tab${e:-unknown}$tab${a:-unknown}$tab$p$tab
  if [ -n "$t" ]; then
    eval "line=\$line\$t\$tab\${n_$p-}"
  else
    line=${line}0$tab
  fi
  set -f
  IFS=' '
  set -- $v
  IFS=$RS
  line=$line$tab$*
  unset IFS
  set +f
  eval "o_$k=\$line"
  k=$((k + 1))
done
@PRINT@
